//! Compiled components survive a restart.

use crate::support::{Ctx, call, invocation, ok_body};
use hookhost::sandbox::{Runtime, RuntimeStats, SandboxConfig};
use hookhost_plugins::ECHO;

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
            loaded_from_disk: 0
        }
    );
    drop(first);

    let second = Runtime::new(SandboxConfig::default(), Some(dir.path())).unwrap();
    let plugin = second.load(&wasm).unwrap();
    assert_eq!(
        second.stats(),
        RuntimeStats {
            compiled: 0,
            loaded_from_disk: 1
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
            loaded_from_disk: 0
        }
    );
}
