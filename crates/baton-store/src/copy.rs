//! Copying every record from one store into another (SQLite to PostgreSQL, say), backend
//! neutral: each backend dumps the tables as rows of [`Cell`]s and loads such rows, in the
//! column lists of [`TABLES`], which both schemas have.

use crate::{Backend, Result, Store, StoreError};

/// A column's kind, which says how each backend reads and writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Text,
    Bool,
    /// JSON, carried as its text.
    Json,
}

/// One value of a copied row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

/// A table to copy: its columns and whether `id` is a generated row id (whose sequence
/// moves past the copied ids).
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub generated_id: bool,
}

impl Table {
    pub(crate) fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Rows of each table, in [`TABLES`] order.
pub(crate) type Dump = Vec<Vec<Vec<Cell>>>;

use Kind::{Bool, Int, Json, Text};

/// Every table a store keeps (but the workers registry), parents before children.
pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "workflow_versions",
        columns: &[
            ("hash", Text),
            ("name", Text),
            ("definition", Text),
            ("created_at", Int),
        ],
        generated_id: false,
    },
    Table {
        name: "runs",
        columns: &[
            ("id", Text),
            ("workflow", Text),
            ("hash", Text),
            ("status", Text),
            ("inputs", Json),
            ("outputs", Json),
            ("error", Text),
            ("created_at", Int),
            ("started_at", Int),
            ("finished_at", Int),
            ("lease_owner", Text),
            ("lease_until", Int),
            ("lease_epoch", Int),
            ("parent_run", Text),
            ("parent_step", Text),
            ("origin", Text),
            ("trace_parent", Text),
            ("priority", Int),
            ("concurrency_key", Text),
            ("concurrency_limit", Int),
        ],
        generated_id: false,
    },
    Table {
        name: "steps",
        columns: &[
            ("run_id", Text),
            ("step_id", Text),
            ("item", Int),
            ("status", Text),
            ("attempts", Int),
            ("output", Json),
            ("output_blob", Text),
            ("error", Text),
            ("started_at", Int),
            ("finished_at", Int),
            ("wake_at", Int),
            ("attempt_started_at", Int),
        ],
        generated_id: false,
    },
    Table {
        name: "attempts",
        columns: &[
            ("run_id", Text),
            ("step_id", Text),
            ("item", Int),
            ("attempt", Int),
            ("owner", Text),
            ("started_at", Int),
            ("finished_at", Int),
            ("outcome", Text),
            ("error", Text),
        ],
        generated_id: false,
    },
    Table {
        name: "blobs",
        columns: &[("id", Text), ("run_id", Text), ("data", Json)],
        generated_id: false,
    },
    Table {
        name: "approvals",
        columns: &[
            ("run_id", Text),
            ("step_id", Text),
            ("approved", Bool),
            ("by_whom", Text),
            ("comment", Text),
            ("at", Int),
        ],
        generated_id: false,
    },
    Table {
        name: "schedules",
        columns: &[
            ("name", Text),
            ("spec", Json),
            ("origin", Text),
            ("paused", Bool),
            ("pause_reason", Text),
            ("cursor", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("last_slot", Int),
            ("last_fired_at", Int),
            ("last_run", Text),
            ("last_result", Text),
            ("last_error", Text),
            ("skipped", Int),
            ("missed", Int),
        ],
        generated_id: false,
    },
    Table {
        name: "schedule_slots",
        columns: &[
            ("schedule", Text),
            ("slot", Int),
            ("state", Text),
            ("reason", Text),
            ("run", Text),
            ("owner", Text),
            ("recorded_at", Int),
        ],
        generated_id: false,
    },
    Table {
        name: "trigger_state",
        columns: &[("name", Text), ("last_fired_at", Int), ("last_run", Text)],
        generated_id: false,
    },
    Table {
        name: "events",
        columns: &[("id", Int), ("at", Int), ("kind", Text), ("data", Json)],
        generated_id: true,
    },
    Table {
        name: "audit_log",
        columns: &[
            ("id", Int),
            ("at", Int),
            ("principal", Text),
            ("kind", Text),
            ("name", Text),
            ("outcome", Text),
            ("duration_ms", Int),
            ("arguments_sha256", Text),
        ],
        generated_id: true,
    },
    Table {
        name: "task_time",
        columns: &[
            ("id", Int),
            ("task_id", Text),
            ("mode", Text),
            ("task", Text),
            ("priority", Text),
            ("start_at", Int),
            ("end_at", Int),
            ("duration_ms", Int),
            ("result", Text),
            ("source", Text),
            ("run_id", Text),
            ("logged_at", Int),
        ],
        generated_id: true,
    },
    Table {
        name: "memory_entries",
        columns: &[
            ("id", Int),
            ("memory", Text),
            ("section", Text),
            ("text", Text),
            ("mode", Text),
            ("stamped", Bool),
            ("created_at", Int),
        ],
        generated_id: true,
    },
    Table {
        name: "memory_archive",
        columns: &[
            ("id", Int),
            ("entry_id", Int),
            ("memory", Text),
            ("section", Text),
            ("text", Text),
            ("mode", Text),
            ("stamped", Bool),
            ("created_at", Int),
            ("archived_at", Int),
        ],
        generated_id: true,
    },
    Table {
        name: "oauth_credentials",
        columns: &[("server", Text), ("credentials", Text), ("updated_at", Int)],
        generated_id: false,
    },
    Table {
        name: "learned_stats",
        columns: &[
            ("server", Text),
            ("name", Text),
            ("calls", Int),
            ("errors", Int),
            ("timeouts", Int),
            ("samples", Text),
            ("updated_at", Int),
        ],
        generated_id: false,
    },
    Table {
        name: "tasks",
        columns: &[
            ("id", Text),
            ("run_id", Text),
            ("owner", Text),
            ("tool", Text),
            ("kind", Text),
            ("created_at", Int),
            ("ttl_ms", Int),
            ("poll_interval_ms", Int),
        ],
        generated_id: false,
    },
    Table {
        name: "task_inputs",
        columns: &[
            ("task_id", Text),
            ("key", Text),
            ("request", Text),
            ("response", Text),
            ("created_at", Int),
        ],
        generated_id: false,
    },
    Table {
        name: "upstream_tasks",
        columns: &[
            ("step_key", Text),
            ("server", Text),
            ("task_id", Text),
            ("run_id", Text),
            ("created_at", Int),
        ],
        generated_id: false,
    },
];

/// What [`Store::copy_into`] copied: rows per table, in copy order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    /// Rows copied in all.
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows).sum()
    }
}

impl Store {
    /// Copies every record of this store (runs, steps, attempts, outputs, approvals,
    /// schedules and their slots, trigger cool-downs, events, time entries, memories) into
    /// `target`, keeping ids and values, in one transaction of the target; the target's
    /// generated ids then continue past the copied ones. Refuses
    /// ([`StoreError::NotEmpty`]) when the target has any of these records already.
    pub async fn copy_into(&self, target: &Store) -> Result<CopyReport> {
        if let Some(table) = target.first_nonempty().await? {
            return Err(StoreError::NotEmpty {
                location: target.location(),
                table: table.to_owned(),
            });
        }
        let dump = match &self.backend {
            Backend::Sqlite(store) => store.dump().await?,
            Backend::Postgres(store) => store.dump().await?,
        };
        let loaded = match &target.backend {
            Backend::Sqlite(store) => store.load(&dump).await?,
            Backend::Postgres(store) => store.load(&dump).await?,
        };
        if let Some(table) = loaded {
            return Err(StoreError::NotEmpty {
                location: target.location(),
                table: table.to_owned(),
            });
        }
        Ok(CopyReport {
            tables: TABLES
                .iter()
                .zip(&dump)
                .map(|(table, rows)| (table.name.to_owned(), rows.len() as u64))
                .collect(),
        })
    }

    /// The first copied table that has rows, if one has.
    async fn first_nonempty(&self) -> Result<Option<&'static str>> {
        for table in TABLES {
            let sql = format!("SELECT 1 FROM {} LIMIT 1", table.name);
            let found = match &self.backend {
                Backend::Sqlite(store) => store.has_rows(&sql).await?,
                Backend::Postgres(store) => store.has_rows(&sql).await?,
            };
            if found {
                return Ok(Some(table.name));
            }
        }
        Ok(None)
    }
}
