//! `hookhost plugin new`: a ready-to-build plugin project in Rust, Python or JavaScript.
//!
//! Every project gets the WIT contract this binary serves (`wit/handler.wit`, embedded at
//! compile time, so a project always matches the host that made it), a handler stub that
//! uses `log`, `config` and `kv` and shows both final failures, a sample `payload.json`, and a
//! README with the build, `plugin check`, `plugin run` and upload commands. The templates are
//! in `host/templates/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The componentize-py version Python projects pin (as `plugins/python-dedupe` does).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The ComponentizeJS version JavaScript projects pin (as `plugins/js-reminder` does).
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The WIT contract, as this binary serves it.
const WIT: &str = include_str!("../../wit/handler.wit");
/// Where this binary's source checkout kept the SDK (used when it still exists).
const SDK_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk");

/// A plugin's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with hookhost-sdk, built by cargo for wasm32-wasip2.
    Rust,
    /// Python, built by componentize-py.
    Python,
    /// JavaScript, built by ComponentizeJS (node).
    #[value(alias = "javascript")]
    Js,
}

/// Why no project was written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot name a crate, a package and a file.
    #[error(
        "`{0}` is not a plugin name: use lowercase letters, digits and single hyphens, \
         starting with a letter (e.g. `address-check`)"
    )]
    InvalidName(String),
    /// Something is in the way.
    #[error("{0} already exists and is not empty")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// A written project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project's folder.
    pub dir: PathBuf,
    /// Its language.
    pub lang: Lang,
    /// The files written, relative to `dir`.
    pub files: Vec<PathBuf>,
    /// The commands that build it, run in `dir`.
    pub build: Vec<String>,
    /// Where the build writes the component, relative to `dir`.
    pub wasm: PathBuf,
}

impl Project {
    /// What to do next, for the terminal.
    pub fn next_steps(&self) -> String {
        let mut out = String::new();
        let dir = self.dir.display();
        let wasm = self.wasm.display();
        writeln!(out, "created {dir} ({:?} plugin):", self.lang).unwrap();
        for file in &self.files {
            writeln!(out, "  {}", file.display()).unwrap();
        }
        writeln!(out, "\nnext:\n  cd {dir}").unwrap();
        for command in &self.build {
            writeln!(out, "  {command}").unwrap();
        }
        writeln!(
            out,
            "  hookhost plugin check {wasm}\n  hookhost plugin run {wasm} --module address \
             --record 4711 --payload payload.json\n\nREADME.md has the upload command."
        )
        .unwrap();
        out
    }
}

/// Whether `name` works as a crate, npm package, component package and file name.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Writes a new `lang` plugin project named `name` into `parent/name`.
pub fn create(name: &str, lang: Lang, parent: &Path) -> Result<Project, ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::InvalidName(name.to_owned()));
    }
    let dir = parent.join(name);
    let occupied = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied || dir.is_file() {
        return Err(ScaffoldError::Exists(dir));
    }
    let stem = name.replace('-', "_");
    let (files, build, wasm): (Vec<(&str, String)>, Vec<String>, String) = match lang {
        Lang::Rust => (
            vec![
                (
                    "Cargo.toml",
                    include_str!("../templates/rust/Cargo.toml").to_owned(),
                ),
                (
                    "src/lib.rs",
                    include_str!("../templates/rust/lib.rs").to_owned(),
                ),
                (
                    "README.md",
                    include_str!("../templates/rust/README.md").to_owned(),
                ),
                (
                    ".gitignore",
                    include_str!("../templates/rust/gitignore").to_owned(),
                ),
            ],
            vec!["cargo build --target wasm32-wasip2 --release".to_owned()],
            format!("target/wasm32-wasip2/release/{stem}.wasm"),
        ),
        Lang::Python => (
            vec![
                (
                    "app.py",
                    include_str!("../templates/python/app.py").to_owned(),
                ),
                (
                    "requirements.txt",
                    include_str!("../templates/python/requirements.txt").to_owned(),
                ),
                (
                    "build.sh",
                    include_str!("../templates/python/build.sh").to_owned(),
                ),
                (
                    "README.md",
                    include_str!("../templates/python/README.md").to_owned(),
                ),
                (
                    ".gitignore",
                    include_str!("../templates/python/gitignore").to_owned(),
                ),
            ],
            vec![
                "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt".to_owned(),
                "COMPONENTIZE_PY=.venv/bin/componentize-py ./build.sh".to_owned(),
            ],
            format!("{stem}.wasm"),
        ),
        Lang::Js => (
            vec![
                (
                    "package.json",
                    include_str!("../templates/js/package.json").to_owned(),
                ),
                (
                    "build.mjs",
                    include_str!("../templates/js/build.mjs").to_owned(),
                ),
                (
                    "src/handler.js",
                    include_str!("../templates/js/handler.js").to_owned(),
                ),
                (
                    "README.md",
                    include_str!("../templates/js/README.md").to_owned(),
                ),
                (
                    ".gitignore",
                    include_str!("../templates/js/gitignore").to_owned(),
                ),
            ],
            vec!["npm install".to_owned(), "npm run build".to_owned()],
            format!("{stem}.wasm"),
        ),
    };
    let files = files.into_iter().map(|(path, text)| {
        let text = if path == "README.md" {
            text + include_str!("../templates/common.md")
        } else {
            text
        };
        (path, text)
    });
    let files = files.chain([
        ("wit/handler.wit", WIT.to_owned()),
        (
            "payload.json",
            include_str!("../templates/payload.json").to_owned(),
        ),
    ]);

    let vars = [
        ("{{name}}", name.to_owned()),
        ("{{wasm_path}}", wasm.clone()),
        ("{{wasm}}", format!("{stem}.wasm")),
        ("{{sdk_dependency}}", sdk_dependency()),
        ("{{componentize_py}}", COMPONENTIZE_PY_VERSION.to_owned()),
        ("{{componentize_js}}", COMPONENTIZE_JS_VERSION.to_owned()),
    ];
    let mut written = Vec::new();
    for (path, text) in files {
        let text = vars
            .iter()
            .fold(text, |text, (var, value)| text.replace(var, value));
        let target = dir.join(path);
        write(&target, &text)?;
        if path.ends_with(".sh") {
            make_executable(&target)?;
        }
        written.push(PathBuf::from(path));
    }
    Ok(Project {
        dir,
        lang,
        files: written,
        build,
        wasm: PathBuf::from(wasm),
    })
}

/// The `hookhost-sdk` dependency: this binary's source checkout when it is still there (the
/// SDK is not on crates.io yet), else the version, with a note.
fn sdk_dependency() -> String {
    match Path::new(SDK_SOURCE).canonicalize() {
        Ok(path) if path.join("Cargo.toml").exists() => {
            format!(
                "hookhost-sdk = {{ path = {:?} }}",
                path.display().to_string()
            )
        }
        _ => format!(
            "# Point this at the guest-sdk folder of a hookhost checkout, e.g.\n\
             # hookhost-sdk = {{ path = \"../hookhost/guest-sdk\" }}\n\
             hookhost-sdk = \"{}\"",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

fn write(path: &Path, text: &str) -> Result<(), ScaffoldError> {
    let io = |source| ScaffoldError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), ScaffoldError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|source| {
        ScaffoldError::Io {
            path: path.to_owned(),
            source,
        }
    })
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), ScaffoldError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_fit_every_language() {
        for good in ["dedupe", "address-check", "a1"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "Dedupe", "1x", "a_b", "a--b", "a-", "../x", "a b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn every_language_gets_the_wit_and_no_placeholder_is_left() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let dir = tempfile::tempdir().unwrap();
            let project = create("address-check", lang, dir.path()).unwrap();
            let wit = std::fs::read_to_string(project.dir.join("wit/handler.wit")).unwrap();
            assert_eq!(wit, WIT);
            for file in &project.files {
                let text = std::fs::read_to_string(project.dir.join(file)).unwrap();
                assert!(!text.contains("{{"), "{lang:?} {}: {text}", file.display());
            }
            let readme = std::fs::read_to_string(project.dir.join("README.md")).unwrap();
            assert!(readme.contains("hookhost plugin check"), "{readme}");
            assert!(readme.contains("public/v1/components?name=address-check"));
            assert!(readme.contains(&project.wasm.display().to_string()));
            assert!(matches!(
                create("address-check", lang, dir.path()),
                Err(ScaffoldError::Exists(_))
            ));
        }
    }
}
