//! Export checkpoints: one per export job under `export.checkpoint_dir`, written atomically
//! (temp file, fsync, rename — seed 003's defect fixed), holding the job id, report id, next
//! offset and baseline schema, so a reconnect — even to a restarted service — resumes with no
//! gap. Behind [`CheckpointStore`] so a shared store can serve several replicas.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A job's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The export job.
    pub export_job_id: String,
    /// Its report.
    pub report_id: String,
    /// The first offset not yet delivered (written, or acknowledged with acks).
    pub next_offset: u64,
    /// The baseline key set (the job's first record's keys, or the last accepted drift).
    pub baseline: Option<Vec<String>>,
}

/// Where checkpoints live.
pub trait CheckpointStore: Send + Sync {
    /// The job's checkpoint, if any.
    ///
    /// Errors: the store cannot be read.
    fn load(&self, export_job_id: &str) -> std::io::Result<Option<Checkpoint>>;
    /// Replaces the job's checkpoint atomically.
    ///
    /// Errors: the store cannot be written.
    fn save(&self, checkpoint: &Checkpoint) -> std::io::Result<()>;
}

/// Checkpoints as JSON files in a directory.
pub struct FileCheckpointStore {
    dir: PathBuf,
}

impl FileCheckpointStore {
    /// A store in `dir` (created when needed).
    ///
    /// Errors: the directory cannot be created.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(FileCheckpointStore { dir })
    }

    fn path(&self, export_job_id: &str) -> PathBuf {
        let safe: String = export_job_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}.json"))
    }
}

impl CheckpointStore for FileCheckpointStore {
    fn load(&self, export_job_id: &str) -> std::io::Result<Option<Checkpoint>> {
        match std::fs::read(self.path(export_job_id)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn save(&self, checkpoint: &Checkpoint) -> std::io::Result<()> {
        let path = self.path(&checkpoint.export_job_id);
        let tmp = path.with_extension(format!("json.tmp-{}", uuid::Uuid::new_v4().simple()));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(checkpoint).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_survives_a_new_store_over_the_same_directory() {
        let dir = std::env::temp_dir().join(format!("sb-ckpt-{}", uuid::Uuid::new_v4()));
        let store = FileCheckpointStore::new(&dir).expect("store");
        assert_eq!(store.load("job/1").expect("load"), None);
        let c = Checkpoint {
            export_job_id: "job/1".into(),
            report_id: "r".into(),
            next_offset: 1200,
            baseline: Some(vec!["a".into(), "b".into()]),
        };
        store.save(&c).expect("save");
        store
            .save(&Checkpoint {
                next_offset: 1300,
                ..c.clone()
            })
            .expect("save again");
        let again = FileCheckpointStore::new(&dir).expect("store");
        assert_eq!(
            again.load("job/1").expect("load").map(|c| c.next_offset),
            Some(1300)
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temp files left behind");
        let _ = std::fs::remove_dir_all(dir);
    }
}
