//! A workflow's graph laid out for drawing (the dashboard draws it as SVG): each step in a
//! column by its depth (the longest chain of `needs` before it), ordered within the column
//! by the average row of what it needs (fewer crossing edges), edges from a step to each
//! step that needs it.

use std::collections::HashMap;

use baton_core::workflow::{StepKind, Workflow};
use serde_json::{Value, json};

/// Node size and gaps, in SVG units.
const WIDTH: u32 = 170;
const HEIGHT: u32 = 44;
const COLUMN_GAP: u32 = 60;
const ROW_GAP: u32 = 22;
const MARGIN: u32 = 10;

/// `{width, height, nodes: [{id, kind, label, x, y, w, h, child_workflow?}], edges: [{from, to}]}`.
pub fn layout(workflow: &Workflow) -> Value {
    // Steps come in dependency order, so one pass gives each its depth.
    let mut depth: HashMap<&str, usize> = HashMap::new();
    for step in &workflow.steps {
        let own = step
            .needs
            .iter()
            .filter_map(|need| depth.get(need.as_str()))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        depth.insert(step.id.as_str(), own);
    }
    let columns = depth.values().max().map_or(0, |d| d + 1);
    let mut rows: Vec<Vec<&str>> = vec![Vec::new(); columns];
    let mut row_of: HashMap<&str, f64> = HashMap::new();
    for (column, row) in rows.iter_mut().enumerate() {
        let mut members: Vec<(f64, usize, &str)> = workflow
            .steps
            .iter()
            .enumerate()
            .filter(|(_, step)| depth[step.id.as_str()] == column)
            .map(|(order, step)| {
                let parents: Vec<f64> = step
                    .needs
                    .iter()
                    .filter_map(|need| row_of.get(need.as_str()).copied())
                    .collect();
                let weight = if parents.is_empty() {
                    order as f64
                } else {
                    parents.iter().sum::<f64>() / parents.len() as f64
                };
                (weight, order, step.id.as_str())
            })
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (row, (_, _, id)) in members.iter().enumerate() {
            row_of.insert(id, row as f64);
        }
        *row = members.into_iter().map(|(_, _, id)| id).collect();
    }
    let tallest = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let nodes: Vec<Value> = workflow
        .steps
        .iter()
        .map(|step| {
            let column = depth[step.id.as_str()] as u32;
            let row = row_of[step.id.as_str()] as u32;
            // Short columns are centred against the tallest.
            let offset = (tallest - rows[column as usize].len() as u32) * (HEIGHT + ROW_GAP) / 2;
            let mut node = json!({
                "id": step.id,
                "kind": kind(&step.kind),
                "label": step.kind.label(),
                "x": MARGIN + column * (WIDTH + COLUMN_GAP),
                "y": MARGIN + offset + row * (HEIGHT + ROW_GAP),
                "w": WIDTH,
                "h": HEIGHT,
                "for_each": step.for_each.is_some(),
                "condition": step.condition,
            });
            if let StepKind::Workflow { name, .. } = &step.kind {
                node["child_workflow"] = json!(name);
            }
            node
        })
        .collect();
    let edges: Vec<Value> = workflow
        .steps
        .iter()
        .flat_map(|step| {
            step.needs
                .iter()
                .map(move |need| json!({ "from": need, "to": step.id }))
        })
        .collect();
    json!({
        "width": 2 * MARGIN + columns as u32 * (WIDTH + COLUMN_GAP) - COLUMN_GAP.min(columns as u32 * COLUMN_GAP),
        "height": 2 * MARGIN + tallest * (HEIGHT + ROW_GAP) - ROW_GAP.min(tallest * ROW_GAP),
        "nodes": nodes,
        "edges": edges,
    })
}

fn kind(kind: &StepKind) -> &'static str {
    match kind {
        StepKind::Tool { .. } => "tool",
        StepKind::Workflow { .. } => "workflow",
        StepKind::Set { .. } => "set",
        StepKind::Sleep { .. } => "sleep",
        StepKind::Approval { .. } => "approval",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow(yaml: &str) -> Workflow {
        baton_core::workflow::compile_workflow(
            std::path::Path::new("t.yaml"),
            yaml,
            baton_core::workflow::WorkflowContext {
                servers: None,
                separator: "__",
                env_allow: &[],
                modes: None,
            },
        )
        .unwrap_or_else(|errors| panic!("{errors}"))
    }

    #[test]
    fn steps_sit_in_columns_by_depth_and_edges_follow_needs() {
        let wf = workflow(
            "name: diamond\nsteps:\n  - id: a\n    set: {x: 1}\n  - id: b\n    needs: [a]\n    set: {x: 2}\n  - id: c\n    needs: [a]\n    sleep: 1s\n  - id: d\n    needs: [b, c]\n    approval: {prompt: ok?}\n",
        );
        let graph = layout(&wf);
        let node = |id: &str| {
            graph["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["id"] == id)
                .unwrap()
                .clone()
        };
        let x = |id: &str| node(id)["x"].as_u64().unwrap();
        assert!(x("a") < x("b"));
        assert_eq!(x("b"), x("c"));
        assert!(x("c") < x("d"));
        assert_ne!(node("b")["y"], node("c")["y"]);
        assert_eq!(node("c")["kind"], "sleep");
        assert_eq!(node("d")["kind"], "approval");
        assert_eq!(graph["edges"].as_array().unwrap().len(), 4);
        let right = graph["width"].as_u64().unwrap();
        assert!(x("d") + u64::from(WIDTH) <= right);
    }
}
