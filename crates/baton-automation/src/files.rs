//! File triggers: a notify watcher per `files:` trigger; changes that pass the globs are
//! gathered for the debounce time and become one `file_changed` event.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::Arc,
};

use baton_core::schedule::{EventKind, FileWatch};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::events::{EventBus, fields};

/// A running watch; dropping it stops watching.
#[derive(Debug)]
pub struct FileWatcher {
    _watcher: RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `path` (under `root`) passes the include and exclude globs.
pub fn wanted(watch: &FileWatch, root: &Path, path: &Path) -> bool {
    let relative = path.strip_prefix(root).unwrap_or(path);
    watch
        .include
        .as_ref()
        .is_none_or(|globs| globs.is_match(relative))
        && !watch
            .exclude
            .as_ref()
            .is_some_and(|globs| globs.is_match(relative))
}

/// Starts watching for trigger `name`. Paths under `ignore` (Baton's own store) never
/// count, so a watch on the project folder does not see Baton's writes.
pub fn watch(
    name: &str,
    watch: &FileWatch,
    ignore: Vec<PathBuf>,
    bus: Arc<EventBus>,
) -> Result<FileWatcher, String> {
    let (sender, mut changes) = mpsc::unbounded_channel::<PathBuf>();
    let roots: Vec<PathBuf> = watch
        .paths
        .iter()
        .map(|path| std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()))
        .collect();
    let ignore: Vec<PathBuf> = ignore
        .iter()
        .map(|path| std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()))
        .collect();
    let filter = watch.clone();
    let filter_roots = roots.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else {
            return;
        };
        if event.kind.is_access() {
            return;
        }
        for path in event.paths {
            if ignore.iter().any(|skip| path.starts_with(skip)) {
                continue;
            }
            let Some(root) = filter_roots.iter().find(|root| path.starts_with(root)) else {
                continue;
            };
            if wanted(&filter, root, &path) {
                let _ = sender.send(path);
            }
        }
    })
    .map_err(|error| format!("cannot watch files: {error}"))?;
    for (root, given) in roots.iter().zip(&watch.paths) {
        watcher
            .watch(root, RecursiveMode::Recursive)
            .map_err(|error| format!("cannot watch {}: {error}", given.display()))?;
    }
    let name = name.to_owned();
    let debounce = watch.debounce;
    let task = tokio::spawn(async move {
        while let Some(first) = changes.recv().await {
            let mut paths = BTreeSet::from([first]);
            let deadline = tokio::time::Instant::now() + debounce;
            while let Ok(Some(path)) = tokio::time::timeout_at(deadline, changes.recv()).await {
                paths.insert(path);
            }
            let count = paths.len();
            let list: Vec<Value> = paths
                .iter()
                .take(100)
                .map(|path| Value::String(path.display().to_string()))
                .collect();
            tracing::info!(watch = name, count, "files changed");
            bus.emit(
                EventKind::FileChanged,
                fields([
                    ("watch", name.clone().into()),
                    ("paths", Value::Array(list)),
                    ("count", count.into()),
                ]),
            );
        }
    });
    Ok(FileWatcher {
        _watcher: watcher,
        task,
    })
}
