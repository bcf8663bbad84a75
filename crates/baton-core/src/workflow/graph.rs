//! The step DAG: dependency order, cycle reports, and drawings (Mermaid, DOT).

use std::collections::{BTreeMap, HashMap};

use petgraph::{algo, graph::DiGraph};

use super::{Step, StepKind, Workflow};

/// Indexes of `steps` in dependency order (ties keep the written order), or the steps of a
/// cycle (first repeated at the end).
pub fn order(steps: &[Step]) -> Result<Vec<usize>, Vec<String>> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| (step.id.as_str(), i))
        .collect();
    let mut graph = DiGraph::<usize, ()>::new();
    let nodes: Vec<_> = (0..steps.len()).map(|i| graph.add_node(i)).collect();
    for (i, step) in steps.iter().enumerate() {
        for need in &step.needs {
            if let Some(&from) = index.get(need.as_str()) {
                graph.add_edge(nodes[from], nodes[i], ());
            }
        }
    }
    if algo::is_cyclic_directed(&graph) {
        // The first strongly connected component with more than one step is a cycle.
        let component = algo::tarjan_scc(&graph)
            .into_iter()
            .find(|component| component.len() > 1)
            .unwrap_or_default();
        let members: std::collections::BTreeSet<usize> =
            component.iter().map(|node| graph[*node]).collect();
        return Err(cycle_path(steps, &members));
    }
    // Kahn's algorithm, always taking the earliest written step that is ready.
    let mut waiting: Vec<usize> = steps
        .iter()
        .map(|step| {
            step.needs
                .iter()
                .filter(|n| index.contains_key(n.as_str()))
                .count()
        })
        .collect();
    let mut done = vec![false; steps.len()];
    let mut order = Vec::with_capacity(steps.len());
    while order.len() < steps.len() {
        let Some(next) = (0..steps.len()).find(|&i| !done[i] && waiting[i] == 0) else {
            break;
        };
        done[next] = true;
        order.push(next);
        for (i, step) in steps.iter().enumerate() {
            if step.needs.iter().any(|need| need == &steps[next].id) {
                waiting[i] -= 1;
            }
        }
    }
    Ok(order)
}

/// Walks the cycle among `members` from its first step.
fn cycle_path(steps: &[Step], members: &std::collections::BTreeSet<usize>) -> Vec<String> {
    let Some(&start) = members.iter().next() else {
        return Vec::new();
    };
    let mut path = vec![steps[start].id.clone()];
    let mut current = start;
    for _ in 0..members.len() {
        let next = steps[current]
            .needs
            .iter()
            .filter_map(|need| members.iter().copied().find(|&m| &steps[m].id == need))
            .next();
        let Some(next) = next else { break };
        path.push(steps[next].id.clone());
        if next == start {
            break;
        }
        current = next;
    }
    path.reverse();
    path
}

/// A cycle in a "who calls whom" map, if any.
pub fn find_cycle(calls: &BTreeMap<&str, Vec<&str>>) -> Option<Vec<String>> {
    let mut graph = DiGraph::<&str, ()>::new();
    let mut nodes = HashMap::new();
    let mut node = |graph: &mut DiGraph<&str, ()>, name: &str| -> petgraph::graph::NodeIndex {
        *nodes
            .entry(name.to_owned())
            .or_insert_with(|| graph.add_node(""))
    };
    let mut names = HashMap::new();
    for (caller, callees) in calls {
        let from = node(&mut graph, caller);
        names.insert(from, *caller);
        for callee in callees {
            let to = node(&mut graph, callee);
            names.insert(to, *callee);
            graph.add_edge(from, to, ());
            if from == to {
                return Some(vec![(*caller).to_owned(), (*caller).to_owned()]);
            }
        }
    }
    algo::tarjan_scc(&graph)
        .into_iter()
        .find(|component| component.len() > 1)
        .map(|component| {
            let mut cycle: Vec<String> = component
                .iter()
                .rev()
                .map(|n| names.get(n).copied().unwrap_or_default().to_owned())
                .collect();
            if let Some(first) = cycle.first().cloned() {
                cycle.push(first);
            }
            cycle
        })
}

fn label(step: &Step) -> String {
    let mut label = format!("{}: {}", step.id, step.kind.label());
    if step.for_each.is_some() {
        label.push_str(" (for each)");
    }
    if step.condition.is_some() {
        label.push_str(" (if)");
    }
    label
}

/// The DAG as a Mermaid flowchart.
pub fn mermaid(workflow: &Workflow) -> String {
    let mut out = String::from("flowchart TD\n");
    for step in &workflow.steps {
        let shape = match step.kind {
            StepKind::Approval { .. } => ("{{", "}}"),
            StepKind::Sleep { .. } => ("([", "])"),
            _ => ("[", "]"),
        };
        out.push_str(&format!(
            "  {}{}\"{}\"{}\n",
            step.id,
            shape.0,
            label(step).replace('"', "#quot;"),
            shape.1
        ));
    }
    for step in &workflow.steps {
        for need in &step.needs {
            out.push_str(&format!("  {need} --> {}\n", step.id));
        }
    }
    out
}

/// The DAG in Graphviz DOT.
pub fn dot(workflow: &Workflow) -> String {
    let mut out = format!("digraph \"{}\" {{\n  rankdir=TB;\n", workflow.name);
    for step in &workflow.steps {
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\"];\n",
            step.id,
            label(step).replace('"', "\\\"")
        ));
    }
    for step in &workflow.steps {
        for need in &step.needs {
            out.push_str(&format!("  \"{need}\" -> \"{}\";\n", step.id));
        }
    }
    out.push_str("}\n");
    out
}
