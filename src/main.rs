//! The `hinet` command: train, evaluate, predict with and benchmark HiNet on CPUs.
//! See docs/cli.md for every command and option.

#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
