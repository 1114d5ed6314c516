//! The fixed cost of one plugin call: a fresh instance of a trivial module, and the thumbnail
//! plugin on empty input (instantiation plus its argument parsing and error path).

use crate::measure::median;
use crate::report::Report;
use anyhow::{Context, Result};
use std::time::Duration;

const CALLS: u32 = 2000;

pub fn report(out: &mut Report, runs: usize) -> Result<()> {
    let runtime = cdn_runtime::Runtime::new(cdn_runtime::Limits::default())?;
    let empty = runtime.load(&wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    )?)?;
    let thumb = runtime.load(cdn_plugin_bundle::THUMBNAIL)?;

    let per_call = |f: &dyn Fn()| -> Duration {
        median(runs, || {
            for _ in 0..CALLS {
                f();
            }
        }) / CALLS
    };
    empty
        .run::<&str>(&[], b"")
        .context("the trivial module does not run")?;
    let trivial = per_call(&|| {
        let _ = empty.run::<&str>(&[], b"");
    });
    let thumb_empty = per_call(&|| {
        let _ = thumb.run::<&str>(&[], b"");
    });
    let us = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6);
    out.section("Per-call cost (fresh instance each call)");
    out.table(
        &["what", "us per call", "target"],
        &[
            vec![
                "trivial module (instantiate + call)".into(),
                us(trivial),
                "< 100 us".into(),
            ],
            vec![
                "thumbnail plugin, empty input".into(),
                us(thumb_empty),
                "-".into(),
            ],
        ],
    );
    out.para(&format!(
        "Medians of {runs} runs of {CALLS} calls. **Verdict** (instantiate + call < 100 us): {}.",
        crate::report::verdict(100.0 / (trivial.as_secs_f64() * 1e6).max(1e-9))
    ));
    Ok(())
}
