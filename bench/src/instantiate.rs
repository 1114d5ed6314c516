//! The fixed cost of one plugin call: a fresh instance of a trivial module, and the thumbnail
//! plugin on empty input (instantiation plus its argument parsing and error path).

use crate::measure::median;
use anyhow::Result;
use std::time::Duration;

const CALLS: u32 = 2000;

pub fn report(runs: usize) -> Result<()> {
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
    let trivial = per_call(&|| {
        empty.run::<&str>(&[], b"").expect("trivial module runs");
    });
    let thumb_empty = per_call(&|| {
        let _ = thumb.run::<&str>(&[], b"");
    });
    let us = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6);
    crate::table::print(
        "Per-call cost (fresh instance each call)",
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
    Ok(())
}
