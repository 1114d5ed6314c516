//! Size limits are enforced from the header, before the decoder allocates for the image: a
//! counting allocator measures the peak heap use while a lying file is refused.
//!
//! A test binary of its own: the allocator counts the whole process, so no other tests may run
//! beside these.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use cdn_samples::{jpeg, photo, png_header_only, with_jpeg_dimensions, JpegOptions};
use thumbnail::{make_thumbnail, Params, ThumbError};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Tests run in parallel threads; the peak is only meaningful for one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap growth (bytes) while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

const ONE_MIB: usize = 1 << 20;

#[test]
fn png_claiming_50000x50000_is_refused_without_allocating() {
    let input = png_header_only(50000, 50000);
    let (result, peak) = peak_during(|| make_thumbnail(&input, &Params::default()));
    let err = result.expect_err("must be refused");
    assert!(matches!(
        err,
        ThumbError::TooLarge {
            width: 50000,
            height: 50000,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "image is 50000x50000, over the 100 megapixel limit"
    );
    assert!(peak < ONE_MIB, "peak heap growth {peak} bytes");
}

#[test]
fn jpeg_claiming_20000x20000_is_refused_without_allocating() {
    let small = jpeg(&photo(64, 48, 1), 80, &JpegOptions::default()).expect("encodes");
    let input = with_jpeg_dimensions(&small, 20000, 20000).expect("has SOF");
    let (result, peak) = peak_during(|| make_thumbnail(&input, &Params::default()));
    assert!(matches!(result, Err(ThumbError::TooLarge { .. })));
    assert!(peak < ONE_MIB, "peak heap growth {peak} bytes");
}

#[test]
fn png_just_under_the_limit_claims_only_a_row_before_failing() {
    // 10000 x 9999 is allowed by the pixel limit but the file holds 64 bytes of image data:
    // the decoder must fail on the data, having allocated the output buffer at most.
    let input = png_header_only(10000, 9999);
    let (result, peak) = peak_during(|| make_thumbnail(&input, &Params::default()));
    let err = result.expect_err("a 64-byte image cannot be 10000x9999");
    assert!(err.to_string().contains("PNG"), "{err}");
    assert!(
        peak < 10000 * 9999 * 3 + 8 * ONE_MIB,
        "peak heap growth {peak} bytes"
    );
}

#[test]
fn a_lower_limit_applies_to_both_decoders() {
    let params = Params {
        max_pixels: 1000,
        ..Params::default()
    };
    let jpeg_bytes = jpeg(&photo(40, 30, 1), 80, &JpegOptions::default()).expect("encodes");
    assert_eq!(
        make_thumbnail(&jpeg_bytes, &params)
            .expect_err("over")
            .to_string(),
        "image is 40x30, over the 1000 pixel limit"
    );
    let small = Params {
        max_pixels: 1200,
        ..Params::default()
    };
    assert!(make_thumbnail(&jpeg_bytes, &small).is_ok());
}
