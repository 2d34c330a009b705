//! Short-lived caches of what the hot paths read from the store: registry lookups of the
//! execute endpoints, webhooks of the delivery workers, signing secrets of URL calls.
//!
//! An entry is used while it is younger than [`TTL`] and the store's generation has not
//! moved: a change made through this process is seen at once; a change made by another
//! instance sharing the database is seen within [`TTL`].

use crate::store::{ActivationValues, Result, Store, Webhook};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a lookup may be reused: the bound on staleness across instances.
pub const TTL: Duration = Duration::from_secs(1);

/// Entries kept per cache before it is cleared.
const MAX_ENTRIES: usize = 10_000;

/// Values loaded from the store, reused while younger than [`TTL`] and while the store's
/// generation has not moved. Errors are not cached. The one cache of the host: registry
/// lookups here, webhooks in the delivery workers, signing secrets in the remote client.
pub struct Cache<K, V> {
    map: Mutex<HashMap<K, (u64, Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Default for Cache<K, V> {
    fn default() -> Self {
        Cache {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Cache<K, V> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fresh value of `key`, or what `load` returns (kept when it succeeds).
    pub async fn get_or_load<Q, F, Fut>(&self, store: &Store, key: &Q, load: F) -> Result<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let generation = store.generation();
        if let Some(value) = self.peek(key, generation, V::clone) {
            return Ok(value);
        }
        let value = load().await?;
        self.put(generation, key.to_owned(), value.clone());
        Ok(value)
    }

    /// Of `keys`, those without a fresh entry, and the generation to [`Cache::put`] what is
    /// loaded for them under (read before loading, so a change made meanwhile wins).
    pub fn stale<'a, Q>(&self, store: &Store, keys: &[&'a Q]) -> (u64, Vec<&'a Q>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let generation = store.generation();
        let stale = keys
            .iter()
            .copied()
            .filter(|key| self.peek(*key, generation, |_| ()).is_none())
            .collect();
        (generation, stale)
    }

    /// Keeps `value` for `key`, loaded at `generation`.
    pub fn put(&self, generation: u64, key: K, value: V) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (generation, Instant::now(), value));
    }

    /// `look` at the fresh entry of `key`, if there is one.
    pub fn peek<Q, R>(&self, key: &Q, generation: u64, look: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(g, at, _)| *g == generation && at.elapsed() < TTL)
            .map(|(_, _, value)| look(value))
    }
}

/// The cached lookups. Cheap to clone.
#[derive(Clone)]
pub struct Lookups {
    store: Store,
    /// Opens the secret parameters of activations.
    key: crate::crypto::MasterKey,
    inner: Arc<Inner>,
}

struct Inner {
    api_keys: Cache<String, Option<String>>,
    extensions: Cache<(String, String), Arc<Vec<Webhook>>>,
    module_webhooks: Cache<(String, String), Arc<Vec<Webhook>>>,
    tenant_names: Cache<String, String>,
    activations: Cache<(String, String), Arc<ActivationValues>>,
}

impl Lookups {
    /// Lookups over `store`; `key` opens the activations' secret parameters.
    pub fn new(store: Store, key: crate::crypto::MasterKey) -> Self {
        Lookups {
            store,
            key,
            inner: Arc::new(Inner {
                api_keys: Cache::new(),
                extensions: Cache::new(),
                module_webhooks: Cache::new(),
                tenant_names: Cache::new(),
                activations: Cache::new(),
            }),
        }
    }

    /// The tenant of an active REST API key.
    pub async fn api_key_tenant(&self, key: &str) -> Result<Option<String>> {
        let hash = crate::crypto::hash_credential(key);
        let store = &self.store;
        self.inner
            .api_keys
            .get_or_load(store, &hash, || async {
                Ok(store.api_key(key).await?.map(|k| k.tenant_id))
            })
            .await
    }

    /// The tenant's webhooks whose extension equals `extension` ignoring case.
    pub async fn extension(&self, tenant_id: &str, extension: &str) -> Result<Arc<Vec<Webhook>>> {
        let store = &self.store;
        self.inner
            .extensions
            .get_or_load(
                store,
                &(tenant_id.to_owned(), extension.to_owned()),
                || async {
                    Ok(Arc::new(
                        store.webhooks_for_extension(tenant_id, extension).await?,
                    ))
                },
            )
            .await
    }

    /// The enabled webhooks the tenant reaches that listen to `module`, oldest first.
    pub async fn module_webhooks(
        &self,
        tenant_id: &str,
        module: &str,
    ) -> Result<Arc<Vec<Webhook>>> {
        let store = &self.store;
        self.inner
            .module_webhooks
            .get_or_load(
                store,
                &(tenant_id.to_owned(), module.to_owned()),
                || async {
                    Ok(Arc::new(
                        store.webhooks_for_module(tenant_id, module).await?,
                    ))
                },
            )
            .await
    }

    /// A tenant's name.
    pub async fn tenant_name(&self, tenant_id: &str) -> Result<String> {
        let store = &self.store;
        self.inner
            .tenant_names
            .get_or_load(store, tenant_id, || async {
                Ok(store.tenant(tenant_id).await?.name)
            })
            .await
    }

    /// The parameter values of the tenant's activation of a service, secret ones opened
    /// (empty when none).
    pub async fn activation(
        &self,
        tenant_id: &str,
        service_id: &str,
    ) -> Result<Arc<ActivationValues>> {
        let (store, key) = (&self.store, &self.key);
        self.inner
            .activations
            .get_or_load(
                store,
                &(tenant_id.to_owned(), service_id.to_owned()),
                || async {
                    Ok(Arc::new(
                        store
                            .activation_parameters(key, tenant_id, service_id)
                            .await?,
                    ))
                },
            )
            .await
    }
}
