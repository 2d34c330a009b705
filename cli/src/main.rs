//! The `hookhost` binary: everything is in the library; the binary adds the example plugins
//! it carries for `hookhost demo` (`hookhost-plugins`, which the library does not depend on).

fn main() -> std::process::ExitCode {
    match hookhost::cli::main(hookhost_plugins::BUNDLED) {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
