//! The orchestration plan (seed 000): `{"sub_flows": [{"id", "depends_on": [...],
//! "input_data": {...}}], "concurrency_max": 1..=50, "merge_condition": "ALL"|"ANY"|"NONE"}`.
//! A sub-flow's id is the Data Action it executes (a UUID).
//!
//! Validation (petgraph; Kosaraju's iterative SCC search, so a 10 000-deep chain cannot
//! overflow the stack) reports every problem at once, before any API call. Unlike the seed,
//! dependencies may be listed in any order. Problems are `{"kind", "sub_flow_id"?, "message"}`
//! with `kind` one of `empty`, `invalid_id`, `duplicate_id`, `unknown_dependency`,
//! `self_dependency`, `cycle` (the cycle's ids in order), `concurrency_out_of_range`,
//! `invalid_merge_condition`, `too_many_sub_flows`, and `invalid_field` for JSON of the wrong
//! shape.

use std::collections::HashMap;

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
use serde_json::{Map, Value};

/// The concurrency range (seed 000).
pub const CONCURRENCY: std::ops::RangeInclusive<u64> = 1..=50;

/// When a run's merge condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum MergeCondition {
    /// Every sub-flow succeeded.
    All,
    /// At least one succeeded.
    Any,
    /// None succeeded.
    None,
}

/// One sub-flow of a plan. Its schema (`SubFlow` in the service's OpenAPI document) is the
/// wire shape [`validate_plan`] reads: unknown fields are refused (`deny_unknown_fields` only
/// states so in the schema; nothing deserialises this type).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    description = "One sub-flow: the Data Action it executes, the sub-flows it waits \
    for, and its input. Unknown fields are refused."
)]
pub struct SubFlow {
    /// The Data Action id (UUID, hyphenated), unique in the plan.
    #[schema(
        format = "uuid",
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub id: String,
    /// Ids of the sub-flows of this plan that must succeed first (absent or null: none).
    #[schema(required = false, nullable)]
    pub depends_on: Vec<String>,
    /// The execution's input (absent or null: `{}`).
    #[schema(required = false, nullable, value_type = Object)]
    pub input_data: Value,
}

/// A validated plan. It serialises as the plan document it was read from (so
/// [`validate_plan`] reads it back to the same plan); its schema (`Plan` in the service's
/// OpenAPI document) is that document's shape, unknown fields refused. The dependency graph's
/// rules (known ids, no cycle) are the validator's alone.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    description = "An orchestration plan (seed 000): a DAG of sub-flows, run with at most \
    `concurrency_max` executions in flight until the merge condition is decided. Besides this \
    shape, every dependency must name a sub-flow of the plan (not itself), ids must be unique \
    and the graph must have no cycle; every problem is reported at once. Unknown fields are \
    refused."
)]
pub struct Plan {
    /// Sub-flows in the order given: at least one, at most `orchestration.max_sub_flows`
    /// (10 000 by default).
    #[schema(min_items = 1)]
    pub sub_flows: Vec<SubFlow>,
    /// Executions in flight at most, 1..=50.
    #[schema(minimum = 1, maximum = 50)]
    pub concurrency_max: usize,
    /// The merge condition.
    pub merge_condition: MergeCondition,
}

impl Plan {
    /// Each sub-flow's position in [`Plan::sub_flows`], by id (ids are unique in a validated
    /// plan).
    pub fn positions(&self) -> HashMap<&str, usize> {
        self.sub_flows
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect()
    }
}

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PlanProblem {
    /// The kind: `empty`, `invalid_id`, `duplicate_id`, `unknown_dependency`,
    /// `self_dependency`, `cycle` (the cycle's ids in order in the message),
    /// `concurrency_out_of_range`, `invalid_merge_condition`, `too_many_sub_flows`, or
    /// `invalid_field` for JSON of the wrong shape.
    #[schema(
        pattern = "^(empty|invalid_id|duplicate_id|unknown_dependency|self_dependency|cycle|concurrency_out_of_range|invalid_merge_condition|too_many_sub_flows|invalid_field)$"
    )]
    pub kind: &'static str,
    /// The sub-flow concerned, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_flow_id: Option<String>,
    /// Human text.
    pub message: String,
}

impl PlanProblem {
    fn new(kind: &'static str, sub_flow_id: Option<&str>, message: impl Into<String>) -> Self {
        PlanProblem {
            kind,
            sub_flow_id: sub_flow_id.map(String::from),
            message: message.into(),
        }
    }
}

/// Whether `s` is a UUID in its hyphenated form (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Validates a plan of at most `max_sub_flows` sub-flows.
///
/// Errors: every problem found.
pub fn validate_plan(value: &Value, max_sub_flows: usize) -> Result<Plan, Vec<PlanProblem>> {
    let mut p = Vec::new();
    let Some(obj) = value.as_object() else {
        return Err(vec![PlanProblem::new(
            "invalid_field",
            None,
            "the plan must be a JSON object",
        )]);
    };
    for key in obj
        .keys()
        .filter(|k| !["sub_flows", "concurrency_max", "merge_condition"].contains(&k.as_str()))
    {
        p.push(PlanProblem::new(
            "invalid_field",
            None,
            format!("{key} is not a known field"),
        ));
    }
    let concurrency_max = match obj.get("concurrency_max") {
        Some(v) if let Some(n) = v.as_u64().filter(|n| CONCURRENCY.contains(n)) => n as usize,
        Some(v) => {
            p.push(PlanProblem::new(
                "concurrency_out_of_range",
                None,
                format!("concurrency_max {v} is not within 1..=50"),
            ));
            1
        }
        None => {
            p.push(PlanProblem::new(
                "concurrency_out_of_range",
                None,
                "concurrency_max is missing (1..=50)",
            ));
            1
        }
    };
    let merge_condition = match obj.get("merge_condition").and_then(Value::as_str) {
        Some("ALL") => Some(MergeCondition::All),
        Some("ANY") => Some(MergeCondition::Any),
        Some("NONE") => Some(MergeCondition::None),
        _ => {
            let got = obj
                .get("merge_condition")
                .map_or("nothing".to_string(), Value::to_string);
            p.push(PlanProblem::new(
                "invalid_merge_condition",
                None,
                format!("merge_condition must be ALL, ANY or NONE, not {got}"),
            ));
            None
        }
    };
    let empty = Vec::new();
    let list = match obj.get("sub_flows") {
        Some(Value::Array(list)) => {
            if list.is_empty() {
                p.push(PlanProblem::new("empty", None, "the plan has no sub-flows"));
            }
            list
        }
        Some(_) => {
            p.push(PlanProblem::new(
                "invalid_field",
                None,
                "sub_flows must be a list",
            ));
            &empty
        }
        None => {
            p.push(PlanProblem::new("empty", None, "the plan has no sub-flows"));
            &empty
        }
    };
    if list.len() > max_sub_flows {
        p.push(PlanProblem::new(
            "too_many_sub_flows",
            None,
            format!(
                "{} sub-flows, more than the maximum of {max_sub_flows}",
                list.len()
            ),
        ));
    }
    let sub_flows: Vec<SubFlow> = list
        .iter()
        .enumerate()
        .filter_map(|(i, v)| parse_sub_flow(i, v, &mut p))
        .collect();
    check_graph(&sub_flows, &mut p);
    match merge_condition {
        Some(merge_condition) if p.is_empty() => Ok(Plan {
            sub_flows,
            concurrency_max,
            merge_condition,
        }),
        _ => Err(p),
    }
}

fn parse_sub_flow(index: usize, v: &Value, p: &mut Vec<PlanProblem>) -> Option<SubFlow> {
    let Some(obj) = v.as_object() else {
        p.push(PlanProblem::new(
            "invalid_field",
            None,
            format!("sub_flows[{index}] must be an object"),
        ));
        return None;
    };
    let id = match obj.get("id") {
        Some(Value::String(s)) if is_uuid(s) => s.clone(),
        Some(Value::String(s)) => {
            p.push(PlanProblem::new(
                "invalid_id",
                Some(s),
                format!("sub_flows[{index}].id {s:?} is not a UUID"),
            ));
            return None;
        }
        other => {
            let got = other.map_or("nothing".to_string(), Value::to_string);
            p.push(PlanProblem::new(
                "invalid_id",
                None,
                format!("sub_flows[{index}].id must be a UUID string, not {got}"),
            ));
            return None;
        }
    };
    for key in obj
        .keys()
        .filter(|k| !["id", "depends_on", "input_data"].contains(&k.as_str()))
    {
        p.push(PlanProblem::new(
            "invalid_field",
            Some(&id),
            format!("sub_flows[{index}].{key} is not a known field"),
        ));
    }
    let depends_on = match obj.get("depends_on") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(deps)) => {
            let mut out = Vec::new();
            for d in deps {
                match d.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => p.push(PlanProblem::new(
                        "invalid_field",
                        Some(&id),
                        format!("sub_flows[{index}].depends_on holds {d}, not an id"),
                    )),
                }
            }
            out
        }
        Some(_) => {
            p.push(PlanProblem::new(
                "invalid_field",
                Some(&id),
                format!("sub_flows[{index}].depends_on must be a list of ids"),
            ));
            Vec::new()
        }
    };
    let input_data = match obj.get("input_data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            p.push(PlanProblem::new(
                "invalid_field",
                Some(&id),
                format!("sub_flows[{index}].input_data must be an object"),
            ));
            Value::Object(Map::new())
        }
    };
    Some(SubFlow {
        id,
        depends_on,
        input_data,
    })
}

fn check_graph(sub_flows: &[SubFlow], p: &mut Vec<PlanProblem>) {
    let mut graph: DiGraph<&str, ()> = DiGraph::new();
    let mut index: HashMap<&str, NodeIndex> = HashMap::new();
    for sf in sub_flows {
        if index.contains_key(sf.id.as_str()) {
            p.push(PlanProblem::new(
                "duplicate_id",
                Some(&sf.id),
                format!("sub-flow {} appears more than once", sf.id),
            ));
        } else {
            index.insert(&sf.id, graph.add_node(&sf.id));
        }
    }
    for sf in sub_flows {
        let Some(&to) = index.get(sf.id.as_str()) else {
            continue;
        };
        for dep in &sf.depends_on {
            if dep == &sf.id {
                p.push(PlanProblem::new(
                    "self_dependency",
                    Some(&sf.id),
                    format!("sub-flow {} depends on itself", sf.id),
                ));
            } else if let Some(&from) = index.get(dep.as_str()) {
                graph.update_edge(from, to, ());
            } else {
                p.push(PlanProblem::new(
                    "unknown_dependency",
                    Some(&sf.id),
                    format!(
                        "sub-flow {} depends on {dep}, which is not in the plan",
                        sf.id
                    ),
                ));
            }
        }
    }
    for scc in kosaraju_scc(&graph).into_iter().filter(|c| c.len() > 1) {
        let cycle = cycle_in(&graph, &scc);
        let ids: Vec<&str> = cycle.iter().map(|n| graph[*n]).collect();
        let mut text = ids.join(" → ");
        if let Some(first) = ids.first() {
            text.push_str(&format!(" → {first}"));
        }
        p.push(PlanProblem::new(
            "cycle",
            ids.first().copied(),
            format!("dependency cycle: {text}"),
        ));
    }
}

/// A cycle through the nodes of a strongly connected component, in dependency order.
fn cycle_in(graph: &DiGraph<&str, ()>, scc: &[NodeIndex]) -> Vec<NodeIndex> {
    let start = *scc.iter().min_by_key(|n| graph[**n]).unwrap_or(&scc[0]);
    let members: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
    // Walk edges inside the component until a node repeats; the repeated tail is a cycle.
    let mut path = vec![start];
    let mut seen: HashMap<NodeIndex, usize> = HashMap::from([(start, 0)]);
    let mut current = start;
    loop {
        let next = graph
            .neighbors(current)
            .filter(|n| members.contains(n))
            .min_by_key(|n| graph[*n]);
        let Some(next) = next else { return path };
        if let Some(&at) = seen.get(&next) {
            return path[at..].to_vec();
        }
        seen.insert(next, path.len());
        path.push(next);
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(n: u8) -> String {
        format!("00000000-0000-0000-0000-{n:012}")
    }

    fn kinds(v: Value) -> Vec<&'static str> {
        validate_plan(&v, 10_000)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|p| p.kind)
            .collect()
    }

    #[test]
    fn dependencies_may_be_listed_in_any_order() {
        let plan = validate_plan(
            &json!({"sub_flows": [
                {"id": id(2), "depends_on": [id(1)], "input_data": {"a": 1}},
                {"id": id(1), "depends_on": []}
            ], "concurrency_max": 2, "merge_condition": "ALL"}),
            10,
        )
        .expect("valid");
        assert_eq!(plan.sub_flows.len(), 2);
        assert_eq!(plan.merge_condition, MergeCondition::All);
    }

    #[test]
    fn every_kind_of_problem_is_reported_at_once() {
        let got = kinds(json!({"sub_flows": [
            {"id": "not-a-uuid"},
            {"id": id(1), "depends_on": [id(1), id(9)]},
            {"id": id(1)},
        ], "concurrency_max": 51, "merge_condition": "SOME"}));
        assert_eq!(
            got,
            vec![
                "concurrency_out_of_range",
                "invalid_merge_condition",
                "invalid_id",
                "duplicate_id",
                "self_dependency",
                "unknown_dependency"
            ]
        );
        assert_eq!(
            kinds(json!({"sub_flows": [], "concurrency_max": 1, "merge_condition": "ANY"})),
            vec!["empty"]
        );
        let many: Vec<Value> = (0..3).map(|i| json!({"id": id(i)})).collect();
        let err = validate_plan(
            &json!({"sub_flows": many, "concurrency_max": 1, "merge_condition": "ANY"}),
            2,
        )
        .expect_err("too many");
        assert_eq!(err[0].kind, "too_many_sub_flows");
    }

    #[test]
    fn a_cycle_is_reported_with_its_ids_in_order() {
        let err = validate_plan(
            &json!({"sub_flows": [
                {"id": id(1), "depends_on": [id(3)]},
                {"id": id(2), "depends_on": [id(1)]},
                {"id": id(3), "depends_on": [id(2)]},
                {"id": id(4), "depends_on": [id(1)]}
            ], "concurrency_max": 5, "merge_condition": "NONE"}),
            10,
        )
        .expect_err("cycle");
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].kind, "cycle");
        assert_eq!(
            err[0].message,
            format!(
                "dependency cycle: {} → {} → {} → {}",
                id(1),
                id(2),
                id(3),
                id(1)
            )
        );
    }

    #[test]
    fn uuids_are_recognised() {
        assert!(is_uuid("7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"));
        assert!(!is_uuid("7f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f"));
        assert!(!is_uuid("7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5g"));
    }
}

#[cfg(test)]
mod deep_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_ten_thousand_deep_chain_with_a_cycle_is_validated_without_recursion() {
        let id = |n: usize| format!("00000000-0000-4000-8000-{n:012}");
        let mut nodes: Vec<Value> = (0..10_000)
            .map(|n| json!({"id": id(n), "depends_on": if n > 0 { vec![id(n - 1)] } else { vec![] }}))
            .collect();
        nodes[0]["depends_on"] = json!([id(9_999)]);
        let err = validate_plan(
            &json!({"sub_flows": nodes, "concurrency_max": 5, "merge_condition": "ALL"}),
            10_000,
        )
        .expect_err("cycle");
        assert_eq!(err[0].kind, "cycle");
    }
}
