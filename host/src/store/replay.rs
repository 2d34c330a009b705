//! smartml replay protection: an HMAC is good for one request.

use super::{ROWS_PER_STATEMENT, Result, Store};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{BTreeMap, HashSet};

impl Store {
    /// Remembers the smartml HMACs (each with its expiry, Unix ms) of one request of the token
    /// with hash `token_hash`; returns those that were new. The others were seen before: the
    /// request replays them.
    ///
    /// An HMAC is good for one request. The unique key (token_hash, hmac) is the arbiter:
    /// each row goes in with `ON CONFLICT DO NOTHING`, so of two requests carrying one HMAC at
    /// the same time, on any instance, exactly one gets it back. The map makes the HMACs
    /// distinct (actions of one request may share one) and sorted, so PostgreSQL takes the
    /// rows' locks in one order and two overlapping requests cannot deadlock.
    pub async fn first_uses_of_hmacs(
        &self,
        token_hash: &str,
        hmacs: &BTreeMap<String, i64>,
    ) -> Result<HashSet<String>> {
        let rows: Vec<(&String, &i64)> = hmacs.iter().collect();
        let mut new = HashSet::with_capacity(rows.len());
        let _turn = self.write_turn().await;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|r| format!("($1, ${}, ${})", 2 + 2 * r, 3 + 2 * r))
                .collect();
            let sql = format!(
                "INSERT INTO smartml_replay (token_hash, hmac, expires_at) VALUES {} \
                 ON CONFLICT (token_hash, hmac) DO NOTHING RETURNING hmac",
                values.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(token_hash);
            for (hmac, expires_at) in chunk {
                query = query.bind(*hmac).bind(**expires_at);
            }
            for row in query.fetch_all(self.pool()).await? {
                new.insert(row.try_get::<String, _>("hmac")?);
            }
        }
        Ok(new)
    }
}
