//! Dumping and loading every table for [`crate::Store::copy_into`] on SQLite.

use sqlx::{Row, sqlite::SqliteRow};

use super::SqliteStore;
use crate::{
    Result,
    copy::{Cell, Dump, Kind, TABLES},
};

/// Rows per `INSERT` (SQLite allows 32766 parameters).
const ROWS_PER_INSERT: usize = 200;

fn cell(row: &SqliteRow, index: usize, kind: Kind) -> Result<Cell> {
    Ok(match kind {
        Kind::Int => row
            .try_get::<Option<i64>, _>(index)?
            .map_or(Cell::Null, Cell::Int),
        Kind::Bool => row
            .try_get::<Option<i64>, _>(index)?
            .map_or(Cell::Null, |n| Cell::Bool(n != 0)),
        Kind::Text | Kind::Json => row
            .try_get::<Option<String>, _>(index)?
            .map_or(Cell::Null, Cell::Text),
    })
}

impl SqliteStore {
    pub(crate) async fn has_rows(&self, sql: &str) -> Result<bool> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Every copied table's rows, read in one transaction.
    pub(crate) async fn dump(&self) -> Result<Dump> {
        let mut tx = self.pool.begin().await?;
        let mut dump = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let sql = format!("SELECT {} FROM {}", table.column_list(), table.name);
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

    /// Inserts `dump` in one transaction; the name of a table that already had rows (and
    /// nothing written) when the store was not empty.
    pub(crate) async fn load(&self, dump: &Dump) -> Result<Option<&'static str>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for table in TABLES {
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
            let width = table.columns.len();
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|row| {
                        let cells: Vec<String> = (1..=width)
                            .map(|column| format!("${}", row * width + column))
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
                for row in chunk {
                    for value in row {
                        query = match value {
                            Cell::Null => query.bind(None::<String>),
                            Cell::Int(n) => query.bind(*n),
                            Cell::Bool(b) => query.bind(i64::from(*b)),
                            Cell::Text(text) => query.bind(text.clone()),
                        };
                    }
                }
                query.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(None)
    }
}
