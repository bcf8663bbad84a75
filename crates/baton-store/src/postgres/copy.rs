//! Dumping and loading every table for [`crate::Store::copy_into`] on PostgreSQL.

use sqlx::{Row, postgres::PgRow};

use super::PgStore;
use crate::{
    Result,
    copy::{Cell, Dump, Kind, TABLES, Table},
};

/// Rows per `INSERT` (PostgreSQL allows 65535 parameters).
const ROWS_PER_INSERT: usize = 500;

fn cell(row: &PgRow, index: usize, kind: Kind) -> Result<Cell> {
    Ok(match kind {
        Kind::Int => row
            .try_get::<Option<i64>, _>(index)?
            .map_or(Cell::Null, Cell::Int),
        Kind::Bool => row
            .try_get::<Option<bool>, _>(index)?
            .map_or(Cell::Null, Cell::Bool),
        Kind::Text | Kind::Json => row
            .try_get::<Option<String>, _>(index)?
            .map_or(Cell::Null, Cell::Text),
    })
}

fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "bigint",
        Kind::Text => "text",
        Kind::Bool => "boolean",
        Kind::Json => "json",
    }
}

/// The columns of `table` to select: JSON as its text.
fn select_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|(name, kind)| match kind {
            Kind::Json => format!("{name}::text"),
            _ => (*name).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl PgStore {
    pub(crate) async fn has_rows(&self, sql: &str) -> Result<bool> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Every copied table's rows, read in one snapshot.
    pub(crate) async fn dump(&self) -> Result<Dump> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let mut dump = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let sql = format!("SELECT {} FROM {}", select_list(table), table.name);
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *tx)
                .await?;
            dump.push(
                rows.iter()
                    .map(|row| {
                        table
                            .columns
                            .iter()
                            .enumerate()
                            .map(|(index, (_, kind))| cell(row, index, *kind))
                            .collect::<Result<Vec<_>>>()
                    })
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        tx.commit().await?;
        Ok(dump)
    }

    /// Inserts `dump` in one transaction and moves the id sequences past the copied ids;
    /// the name of a table that already had rows (and nothing written) when the database
    /// was not empty.
    pub(crate) async fn load(&self, dump: &Dump) -> Result<Option<&'static str>> {
        let mut tx = self.pool.begin().await?;
        for table in TABLES {
            // Locks out concurrent writers until the copy commits.
            let lock = format!("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE", table.name);
            sqlx::query(sqlx::AssertSqlSafe(lock))
                .execute(&mut *tx)
                .await?;
            let sql = format!("SELECT 1 FROM {} LIMIT 1", table.name);
            if sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_optional(&mut *tx)
                .await?
                .is_some()
            {
                return Ok(Some(table.name));
            }
        }
        for (table, rows) in TABLES.iter().zip(dump) {
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                insert_rows(&mut tx, table, chunk).await?;
            }
            if table.generated_id {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE((SELECT MAX(id) FROM {0}), 0) + 1, false)",
                    table.name
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(None)
    }
}

async fn insert_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &Table,
    rows: &[Vec<Cell>],
) -> Result<()> {
    let width = table.columns.len();
    let values: Vec<String> = (0..rows.len())
        .map(|row| {
            let cells: Vec<String> = table
                .columns
                .iter()
                .enumerate()
                .map(|(column, (_, kind))| {
                    format!("${}::{}", row * width + column + 1, sql_type(*kind))
                })
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        table.name,
        table.column_list(),
        values.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        for (value, (_, kind)) in row.iter().zip(table.columns) {
            query = match (value, kind) {
                (Cell::Null, Kind::Int) => query.bind(None::<i64>),
                (Cell::Null, Kind::Bool) => query.bind(None::<bool>),
                (Cell::Null, _) => query.bind(None::<String>),
                (Cell::Int(n), _) => query.bind(*n),
                (Cell::Bool(b), _) => query.bind(*b),
                (Cell::Text(text), _) => query.bind(text.clone()),
            };
        }
    }
    query.execute(&mut **tx).await?;
    Ok(())
}
