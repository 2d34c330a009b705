//! On-disk cache of compiled components, so a restart does not recompile.
//!
//! Files are named `<sha256 of the wasm>-<engine fingerprint>.cwasm`: a different wasmtime
//! version or engine configuration gets different files instead of refused ones.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The cache directory of one engine configuration.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    fingerprint: String,
}

impl ArtifactCache {
    /// A cache in `dir` (created if missing) for artifacts of `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("creating the compiled-component cache {dir:?}: {e}"))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir: dir.to_owned(),
            fingerprint: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir
            .join(format!("{digest}-{}.cwasm", self.fingerprint))
    }

    /// The cached compilation of `digest`, if there is a usable one.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `store` below from `Component::serialize` of the
        // component with this digest, in a directory only this host writes, under a name that
        // includes the engine fingerprint; wasmtime still checks its header and version.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(?path, error = %error, "ignoring unusable compiled artifact");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Writes the compilation of `digest` (atomically: a crash leaves no torn file).
    ///
    /// Each write goes to a file of its own before it is renamed into place: two writers of
    /// the same digest (concurrent first calls of a component, two uploads at once) sharing
    /// a temporary name would truncate and rewrite each other's file, and one could rename
    /// the other's half-written file into place, for a load to find it torn (refused,
    /// deleted and compiled again) or to map it while it is still being written.
    pub fn store(&self, digest: &str, component: &Component) -> anyhow::Result<()> {
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let bytes = component.serialize().map_err(anyhow::Error::from)?;
        let path = self.path(digest);
        let write = WRITES.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{write}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}
