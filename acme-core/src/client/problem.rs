//! The server's last problem document, kept in fixed-size storage so an
//! error can be explained after the response buffer is reused.

use heapless::{String, Vec};

use crate::msg::{JsonStr, Problem, ProblemType};

/// The longest problem `detail` kept; longer ones are cut and end in `…`.
pub const MAX_PROBLEM_DETAIL: usize = 192;
/// The longest problem `type` or `instance` kept.
pub const MAX_PROBLEM_URI: usize = 160;
/// The most subproblems kept.
pub const MAX_SUBPROBLEMS_KEPT: usize = 4;

/// One kept subproblem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubproblemRecord {
    /// The classified type.
    pub kind: Option<ProblemType>,
    /// The identifier's value (`a.example`, `192.0.2.1`).
    pub identifier: String<64>,
    /// The detail, possibly cut.
    pub detail: String<96>,
}

/// The last problem document the server sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProblemRecord {
    /// The classified type (`None` when the error body was not a problem
    /// document, such as an HTML page from a proxy).
    pub kind: Option<ProblemType>,
    /// The HTTP status of the response that carried it.
    pub status: u16,
    /// The `type` URI, possibly cut.
    pub type_uri: String<MAX_PROBLEM_URI>,
    /// The `detail`, possibly cut.
    pub detail: String<MAX_PROBLEM_DETAIL>,
    /// The `instance` URL (for `userActionRequired`: where the user must go).
    pub instance: String<MAX_PROBLEM_URI>,
    /// Up to [`MAX_SUBPROBLEMS_KEPT`] subproblems.
    pub subproblems: Vec<SubproblemRecord, MAX_SUBPROBLEMS_KEPT>,
    /// How many subproblems the document had in all.
    pub subproblem_count: usize,
}

/// Copies `text` into `out`, cutting it with a trailing `…` when it does
/// not fit.
pub(crate) fn copy_cut<const N: usize>(out: &mut String<N>, text: Option<JsonStr<'_>>) {
    out.clear();
    let Some(text) = text else { return };
    let mut cut = false;
    let _ = text.for_each_piece(|piece| {
        for c in piece.chars() {
            if cut {
                return;
            }
            // Keep room for the ellipsis (3 bytes).
            if out.len() + c.len_utf8() + 3 > N {
                cut = true;
                return;
            }
            let printable = if c.is_control() { ' ' } else { c };
            let _ = out.push(printable);
        }
    });
    if cut {
        let _ = out.push('…');
    }
}

impl ProblemRecord {
    /// Records a parsed problem document.
    pub(crate) fn set<const S: usize, const A: usize>(
        &mut self,
        status: u16,
        problem: &Problem<'_, S, A>,
    ) {
        self.kind = Some(problem.kind());
        self.status = status;
        copy_cut(&mut self.type_uri, problem.type_uri);
        copy_cut(&mut self.detail, problem.detail.or(problem.title));
        copy_cut(&mut self.instance, problem.instance);
        self.subproblems.clear();
        self.subproblem_count = problem.subproblems.as_slice().len();
        for sub in problem.subproblems.as_slice() {
            let mut record = SubproblemRecord {
                kind: sub
                    .type_uri
                    .and_then(|t| t.as_plain())
                    .map(ProblemType::from_uri),
                ..SubproblemRecord::default()
            };
            copy_cut(&mut record.identifier, sub.identifier.map(|i| i.value));
            copy_cut(&mut record.detail, sub.detail);
            if self.subproblems.push(record).is_err() {
                break;
            }
        }
    }

    /// Records an error response that held no problem document.
    pub(crate) fn set_bare(&mut self, status: u16) {
        *self = ProblemRecord {
            status,
            ..ProblemRecord::default()
        };
    }
}
