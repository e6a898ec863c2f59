//! All facts in one value: what the file trees say plus what doing things showed. The checks
//! and the decision are pure functions of it, which is what makes fixture tests possible.

use serde::{Deserialize, Serialize};

use crate::host::status::ProcStatus;
use crate::host::StaticFacts;
use crate::live::LiveFacts;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub host: StaticFacts,
    pub live: LiveFacts,
}

impl Facts {
    pub fn status(&self) -> Option<&ProcStatus> {
        self.host.status.as_ref().ok()
    }
    /// Whether buildah will run in a user namespace here (see
    /// [`ProcStatus::needs_userns`]); unknown status counts as yes.
    pub fn needs_userns(&self) -> bool {
        self.status().is_none_or(ProcStatus::needs_userns)
    }
    pub fn is_root(&self) -> bool {
        self.status().is_some_and(ProcStatus::is_root)
    }
}
