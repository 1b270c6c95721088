//! The record of sub-flow executions: what `GET /sandbox/state` lists in `executions` and
//! `GET /api/v1/executions/{execution_id}` reads, bounded to the most recent ones.

use std::collections::{HashMap, VecDeque};

use serde::{Serialize, Serializer};

/// Most executions remembered; starting one more forgets the oldest.
pub const MAX_EXECUTIONS: usize = 100_000;

/// Where an execution stands. JSON: `"running"`, `"succeeded"` or `"failed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    /// Started, not ended yet.
    Running,
    /// Ended successfully (its completion webhook says `completed`).
    Succeeded,
    /// Ended in failure (its completion webhook says `failed`).
    Failed,
}

/// One execution as `GET /sandbox/state` lists it: `{"execution_id": uuid,
/// "data_action_id": string, "started_at_ms": unix ms, "completed_at_ms": unix ms or null,
/// "status": "running"|"succeeded"|"failed"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionRecord {
    /// The execution's id (UUID v4).
    pub execution_id: String,
    /// The Data Action (sub-flow) executed: the `{id}` of the execute path.
    pub data_action_id: String,
    /// When the execute request arrived, in Unix milliseconds.
    pub started_at_ms: u64,
    /// When the execution ended, in Unix milliseconds (stamped before its completion
    /// webhooks are sent); `None` (null) while running.
    pub completed_at_ms: Option<u64>,
    /// Where it stands.
    pub status: ExecutionStatus,
}

/// The executions in start order, the most recent [`MAX_EXECUTIONS`] (or the capacity given),
/// with lookup by id in constant time. Serialises as a JSON list of [`ExecutionRecord`].
#[derive(Debug, Clone)]
pub struct ExecutionLog {
    records: VecDeque<ExecutionRecord>,
    /// Execution id → its sequence number (its position counting the forgotten ones).
    index: HashMap<String, u64>,
    /// Sequence number of `records[0]`.
    first_seq: u64,
    capacity: usize,
}

impl Default for ExecutionLog {
    fn default() -> Self {
        ExecutionLog::with_capacity(MAX_EXECUTIONS)
    }
}

impl ExecutionLog {
    /// An empty log keeping at most `capacity` executions (at least 1).
    pub fn with_capacity(capacity: usize) -> ExecutionLog {
        ExecutionLog {
            records: VecDeque::new(),
            index: HashMap::new(),
            first_seq: 0,
            capacity: capacity.max(1),
        }
    }

    /// Appends a started execution, forgetting the oldest one when full.
    pub fn push(&mut self, record: ExecutionRecord) {
        if self.records.len() >= self.capacity {
            if let Some(oldest) = self.records.pop_front() {
                self.index.remove(&oldest.execution_id);
                self.first_seq += 1;
            }
        }
        let seq = self.first_seq + self.records.len() as u64;
        self.index.insert(record.execution_id.clone(), seq);
        self.records.push_back(record);
    }

    fn position(&self, execution_id: &str) -> Option<usize> {
        let seq = *self.index.get(execution_id)?;
        usize::try_from(seq.checked_sub(self.first_seq)?).ok()
    }

    /// The execution with this id, if it is remembered.
    pub fn get(&self, execution_id: &str) -> Option<&ExecutionRecord> {
        self.records.get(self.position(execution_id)?)
    }

    /// The execution with this id, to update it.
    pub fn get_mut(&mut self, execution_id: &str) -> Option<&mut ExecutionRecord> {
        let position = self.position(execution_id)?;
        self.records.get_mut(position)
    }

    /// Executions remembered.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The executions in start order.
    pub fn iter(&self) -> impl Iterator<Item = &ExecutionRecord> {
        self.records.iter()
    }
}

impl Serialize for ExecutionLog {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.records.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(id: &str, started_at_ms: u64) -> ExecutionRecord {
        ExecutionRecord {
            execution_id: id.to_owned(),
            data_action_id: format!("da-{id}"),
            started_at_ms,
            completed_at_ms: None,
            status: ExecutionStatus::Running,
        }
    }

    #[test]
    fn executions_serialise_as_a_list_in_start_order() {
        let mut log = ExecutionLog::default();
        log.push(running("a", 1));
        log.push(running("b", 2));
        let value = serde_json::to_value(&log).expect("serialisable");
        assert_eq!(
            value,
            serde_json::json!([
                {"execution_id": "a", "data_action_id": "da-a", "started_at_ms": 1,
                 "completed_at_ms": null, "status": "running"},
                {"execution_id": "b", "data_action_id": "da-b", "started_at_ms": 2,
                 "completed_at_ms": null, "status": "running"},
            ])
        );
    }

    #[test]
    fn a_full_log_forgets_the_oldest_and_still_finds_the_rest() {
        let mut log = ExecutionLog::with_capacity(3);
        for (i, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            log.push(running(id, i as u64));
        }
        assert_eq!(log.len(), 3);
        assert!(log.get("a").is_none());
        assert!(log.get("b").is_none());
        for id in ["c", "d", "e"] {
            assert_eq!(log.get(id).map(|r| r.execution_id.as_str()), Some(id));
        }
        let order: Vec<&str> = log.iter().map(|r| r.execution_id.as_str()).collect();
        assert_eq!(order, ["c", "d", "e"]);
    }

    #[test]
    fn an_execution_is_updated_in_place() {
        let mut log = ExecutionLog::with_capacity(2);
        log.push(running("a", 1));
        log.push(running("b", 2));
        log.push(running("c", 3));
        let record = log.get_mut("c").expect("remembered");
        record.status = ExecutionStatus::Failed;
        record.completed_at_ms = Some(9);
        assert_eq!(
            log.get("c").map(|r| r.status),
            Some(ExecutionStatus::Failed)
        );
        assert_eq!(
            log.get("b").map(|r| r.status),
            Some(ExecutionStatus::Running)
        );
        assert!(log.get_mut("a").is_none());
        assert!(!log.is_empty());
    }
}
