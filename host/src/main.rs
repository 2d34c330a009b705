//! The `hookhost` binary: everything is in the library.

fn main() -> std::process::ExitCode {
    match hookhost::cli::main() {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
