//! Compiled components survive a restart; the loaded ones stay within their bound.

use crate::support::{Ctx, call, invocation, ok_body};
use hookhost::sandbox::{Runtime, RuntimeStats, SandboxConfig, digest};
use hookhost_plugins::{ECHO, MISBEHAVE, VALUATION};

#[tokio::test]
async fn a_restarted_runtime_loads_the_compiled_artifact_instead_of_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(ECHO).unwrap();

    let first = Runtime::new(SandboxConfig::default(), Some(dir.path())).unwrap();
    first.load(&wasm).unwrap();
    first.load(&wasm).unwrap();
    assert_eq!(
        first.stats(),
        RuntimeStats {
            compiled: 1,
            loaded_from_disk: 0,
            loaded: 1,
        }
    );
    drop(first);

    let second = Runtime::new(SandboxConfig::default(), Some(dir.path())).unwrap();
    let plugin = second.load(&wasm).unwrap();
    assert_eq!(
        second.stats(),
        RuntimeStats {
            compiled: 0,
            loaded_from_disk: 1,
            loaded: 1,
        }
    );
    ok_body(
        &call(
            &second,
            &plugin,
            &invocation("estate", "7", "{}"),
            Ctx::new(&second),
        )
        .await,
    );
}

#[tokio::test]
async fn a_fresh_compilation_stays_loaded_as_its_mapped_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(ECHO).unwrap();
    let runtime = Runtime::new(SandboxConfig::default(), Some(dir.path())).unwrap();
    let plugin = runtime.load(&wasm).unwrap();
    assert_eq!(runtime.stats().compiled, 1);
    let artifact = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .expect("the artifact is stored")
        .unwrap()
        .path();
    // The loaded component's code is the artifact's pages, not the compiler's copy.
    #[cfg(target_os = "linux")]
    {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert!(
            maps.contains(artifact.to_str().unwrap()),
            "{} is not mapped",
            artifact.display()
        );
    }
    ok_body(
        &call(
            &runtime,
            &plugin,
            &invocation("estate", "7", "{}"),
            Ctx::new(&runtime),
        )
        .await,
    );
}

/// Concurrent first calls of a component not yet loaded each compile and store it: each
/// write goes to a file of its own and is renamed into place whole, every one of them runs,
/// and one artifact is left, with no temporary file beside it.
#[tokio::test]
async fn concurrent_first_loads_of_a_component_all_run() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(ECHO).unwrap();
    for _ in 0..3 {
        let runtime = Runtime::new(SandboxConfig::default(), Some(dir.path())).unwrap();
        let _ = std::fs::remove_dir_all(dir.path());
        std::fs::create_dir_all(dir.path()).unwrap();
        let barrier = std::sync::Barrier::new(4);
        let plugins: Vec<_> = std::thread::scope(|scope| {
            let loads: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        runtime.load(&wasm).unwrap()
                    })
                })
                .collect();
            loads.into_iter().map(|load| load.join().unwrap()).collect()
        });
        for plugin in &plugins {
            ok_body(
                &call(
                    &runtime,
                    plugin,
                    &invocation("estate", "7", "{}"),
                    Ctx::new(&runtime),
                )
                .await,
            );
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(
            left.len(),
            1,
            "one artifact and no temporary files: {left:?}"
        );
    }
}

#[test]
fn a_corrupt_artifact_is_replaced_by_a_fresh_compilation() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(ECHO).unwrap();
    Runtime::new(SandboxConfig::default(), Some(dir.path()))
        .unwrap()
        .load(&wasm)
        .unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not an artifact").unwrap();
    }
    let runtime = Runtime::new(SandboxConfig::default(), Some(dir.path())).unwrap();
    runtime.load(&wasm).unwrap();
    assert_eq!(
        runtime.stats(),
        RuntimeStats {
            compiled: 1,
            loaded_from_disk: 0,
            loaded: 1,
        }
    );
}

#[test]
fn loaded_components_stay_within_their_bound_and_come_back_without_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        loaded_components: 2,
        ..SandboxConfig::default()
    };
    let runtime = Runtime::new(config, Some(dir.path())).unwrap();
    let [echo, valuation, misbehave] =
        [ECHO, VALUATION, MISBEHAVE].map(|path| std::fs::read(path).unwrap());
    runtime.load(&echo).unwrap();
    runtime.load(&valuation).unwrap();
    // Echo was used last: valuation is the one to go.
    assert!(runtime.loaded(&digest(&echo)).is_some());
    runtime.load(&misbehave).unwrap();
    assert_eq!(runtime.stats().loaded, 2);
    assert!(runtime.loaded(&digest(&valuation)).is_none());
    assert!(runtime.loaded(&digest(&echo)).is_some());
    assert!(runtime.loaded(&digest(&misbehave)).is_some());

    // Back from the artifact cache, not compiled again.
    runtime.load(&valuation).unwrap();
    assert_eq!(
        runtime.stats(),
        RuntimeStats {
            compiled: 3,
            loaded_from_disk: 1,
            loaded: 2,
        }
    );
}
