//! Section 4: peak resident memory (`VmHWM`) of the master and of one worker, read just before
//! they are stopped at the end of a distributed and of a control-plane run.

use crate::control_plane::ControlFigures;
use crate::distributed::DistFigures;
use crate::proc_stats::mib;
use crate::report::Report;

pub fn report(
    out: &mut Report,
    dist: Option<&DistFigures>,
    control: Option<&ControlFigures>,
    runs: usize,
) {
    out.section("4. Peak memory (VmHWM, MiB)");
    if dist.is_none() && control.is_none() {
        out.para("Skipped (no cluster runs).");
        return;
    }
    let figure = |bytes: Option<u64>| bytes.map_or("-".into(), mib);
    out.table(
        &[
            "process",
            "after the distributed run",
            "after the control-plane run",
        ],
        &[
            vec![
                "master".into(),
                figure(dist.map(|d| d.master_rss)),
                figure(control.map(|c| c.master_rss)),
            ],
            vec![
                "worker w1".into(),
                figure(dist.map(|d| d.worker_rss)),
                figure(control.map(|c| c.worker_rss)),
            ],
        ],
    );
    out.para(&format!(
        "Medians of {runs} runs; each run starts fresh processes, and `VmHWM` is read from \
         `/proc/PID/status` just before they are stopped. No target: for reference. Workers hold \
         2 tasks at a time in the distributed run and 8 in the control-plane run."
    ));
}
