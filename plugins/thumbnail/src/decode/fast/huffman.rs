//! Huffman decoding of entropy-coded JPEG data: a 64-bit bit buffer over the bytes (stuffed
//! zeros removed, stopping at markers) and tables with a 11-bit lookup for short codes.

/// Bits per fast lookup (11: 2048 entries; most AC codes with their extra bits fit).
const LOOKUP_BITS: u32 = 11;
const LOOKUP_SIZE: usize = 1 << LOOKUP_BITS;

/// In an [`HuffmanTable::ac_fast`] entry's run byte: the symbol is the end of block.
pub(crate) const AC_EOB: usize = 0x80;

/// A zeroed lookup table of [`LOOKUP_SIZE`] entries; fixed-size, so indexing it by a
/// [`LOOKUP_BITS`]-bit prefix needs no bounds check.
fn table<T: Copy + Default>() -> Box<[T; LOOKUP_SIZE]> {
    let v: Box<[T]> = vec![T::default(); LOOKUP_SIZE].into_boxed_slice();
    match v.try_into() {
        Ok(table) => table,
        Err(_) => unreachable!("the vector has LOOKUP_SIZE entries"),
    }
}

/// One Huffman table (JPEG's BITS and HUFFVAL).
#[derive(Clone)]
pub(crate) struct HuffmanTable {
    /// For each 11-bit prefix: (code length, symbol); length 0 when the code is longer.
    lookup: Box<[(u8, u8); LOOKUP_SIZE]>,
    /// For codes of 1..=16 bits: the largest code of that length (or -1) and the offset of its
    /// first symbol in `values` minus its first code.
    maxcode: [i32; 18],
    valoffset: [i32; 17],
    values: Vec<u8>,
    /// For AC tables: for each 11-bit prefix holding a whole code and its extra bits, the run
    /// and the bits used (code + extra) in the low byte and the coefficient's value above;
    /// end of block has the run [`AC_EOB`], a run of 16 zeros (ZRL) is run 15 with value 0;
    /// 0 when the prefix does not hold a whole symbol (then decode it the slow way).
    ac_fast: Box<[i32; LOOKUP_SIZE]>,
    /// For DC tables: for each 11-bit prefix holding a whole code and its extra bits, the
    /// difference it codes above the low byte and the bits used (code + extra) in it; 0 when
    /// the prefix does not hold a whole symbol.
    dc_fast: Box<[i32; LOOKUP_SIZE]>,
    /// For AC tables, to skip coefficients undecoded: for each 11-bit prefix holding a whole
    /// code and its extra bits, in the low half the bits used (code + extra) in the low 4 bits
    /// and how far the zigzag position moves above them (run + 1; 16 for ZRL; 64 for end of
    /// block); in the high half the same for this symbol and the next one together when the
    /// prefix holds both whole (else the first alone again); 0 when the prefix does not hold
    /// a whole symbol. One lookup and one shift per one or two skipped symbols.
    skip: Box<[u32; LOOKUP_SIZE]>,
}

impl HuffmanTable {
    /// `None` when the counts describe more codes than fit.
    pub fn new(counts: &[u8; 16], values: &[u8]) -> Option<HuffmanTable> {
        let mut lookup = table::<(u8, u8)>();
        let mut maxcode = [-1i32; 18];
        let mut valoffset = [0i32; 17];
        let mut code: u32 = 0;
        let mut k = 0usize;
        for len in 1..=16u32 {
            let n = usize::from(counts[len as usize - 1]);
            valoffset[len as usize] = k as i32 - code as i32;
            for _ in 0..n {
                if code >= 1 << len {
                    return None;
                }
                if len <= LOOKUP_BITS {
                    let shift = LOOKUP_BITS - len;
                    let first = (code << shift) as usize;
                    for slot in &mut lookup[first..first + (1 << shift)] {
                        *slot = (len as u8, *values.get(k)?);
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                maxcode[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        maxcode[17] = i32::MAX; // sentinel
        let mut ac_fast = table::<i32>();
        let mut dc_fast = table::<i32>();
        let mut single = table::<u16>();
        for (peek, &(len, rs)) in lookup.iter().enumerate() {
            if len > 0 && u32::from(len) + u32::from(rs) <= LOOKUP_BITS {
                let used = u32::from(len) + u32::from(rs);
                let raw = ((peek as u32) >> (LOOKUP_BITS - used)) & ((1 << rs) - 1);
                dc_fast[peek] = (extend(raw as i32, u32::from(rs)) << 8) | used as i32;
            }
            let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
            let used = u32::from(len) + size;
            if len == 0 || used > LOOKUP_BITS {
                continue;
            }
            let (fast_run, value, advance) = match (run, size) {
                (0, 0) => (AC_EOB as u32, 0, 64),
                (15, 0) => (15, 0, 16),
                (_, 0) => continue, // not a valid AC symbol: the slow path says so
                _ => {
                    let raw = ((peek as u32) >> (LOOKUP_BITS - used)) & ((1 << size) - 1);
                    (run, extend(raw as i32, size), run + 1)
                }
            };
            ac_fast[peek] = (value << 16) | ((fast_run as i32) << 8) | used as i32;
            single[peek] = ((advance << 4) | used) as u16;
        }
        let mut skip = table::<u32>();
        for (peek, (slot, &first)) in skip.iter_mut().zip(single.iter()).enumerate() {
            if first == 0 {
                continue;
            }
            let used = u32::from(first & 15);
            let mut pair = u32::from(first);
            if first >> 4 < 64 {
                // the bits after the first symbol, top-aligned; only 11 - used of them are real
                let rest = (peek << used) & (LOOKUP_SIZE - 1);
                let second = single[rest];
                let used2 = u32::from(second & 15);
                if second != 0 && used + used2 <= LOOKUP_BITS {
                    pair = ((u32::from(first >> 4) + u32::from(second >> 4)) << 4) | (used + used2);
                }
            }
            *slot = (pair << 16) | u32::from(first);
        }
        Some(HuffmanTable {
            lookup,
            maxcode,
            valoffset,
            values: values.to_vec(),
            ac_fast,
            dc_fast,
            skip,
        })
    }
}

/// Why the entropy-coded data could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BitError {
    /// A code not in the table.
    BadCode,
}

/// Reads bits MSB first. At a marker it stops consuming and feeds zero bits (as libjpeg
/// does); past the end of the input too, but then [`BitReader::overrun`] says so once any of
/// those bits were used.
#[derive(Clone, Copy)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    /// Valid bits in `buf` (from its top).
    count: u32,
    /// A marker (or the end) was met at `pos`: only zero bits from here.
    stopped: bool,
    /// The input ended (no marker): zero bits fed since then.
    fed_after_end: Option<u32>,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        BitReader {
            data,
            pos,
            buf: 0,
            count: 0,
            stopped: false,
            fed_after_end: None,
        }
    }

    #[inline(always)]
    fn refill(&mut self) {
        // Fast path: the next 8 bytes hold no 0xFF (no stuffing, no marker): take as many
        // whole bytes as fit in one go.
        if !self.stopped {
            if let Some(next) = self.data.get(self.pos..self.pos + 8) {
                let mut word = [0u8; 8];
                word.copy_from_slice(next);
                let word = u64::from_be_bytes(word);
                let inv = !word;
                let has_ff =
                    inv.wrapping_sub(0x0101_0101_0101_0101) & !inv & 0x8080_8080_8080_8080 != 0;
                if !has_ff {
                    let n = (63 - self.count) / 8;
                    if n > 0 {
                        self.buf |= (word >> (64 - 8 * n)) << (64 - 8 * n - self.count);
                        self.pos += n as usize;
                        self.count += 8 * n;
                        return;
                    }
                }
            }
        }
        // Byte by byte (stuffing, a marker, the end), out of line so the hot loops stay small;
        // through a copy, so a caller's reader can live in registers (its address never taken).
        let mut slow = *self;
        slow.refill_bytewise();
        *self = slow;
    }

    #[inline(never)]
    #[cold]
    fn refill_bytewise(&mut self) {
        while self.count <= 56 {
            let byte = if self.stopped {
                if let Some(fed) = &mut self.fed_after_end {
                    *fed += 8;
                }
                0
            } else {
                match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
                    (Some(&0xFF), Some(&0x00)) => {
                        self.pos += 2;
                        0xFF
                    }
                    (Some(&0xFF), Some(_)) => {
                        self.stopped = true;
                        continue;
                    }
                    (Some(&b), _) if b != 0xFF => {
                        self.pos += 1;
                        b
                    }
                    _ => {
                        // the end, or a lone 0xFF at the end
                        self.pos = self.data.len();
                        self.stopped = true;
                        self.fed_after_end = Some(0);
                        continue;
                    }
                }
            };
            self.buf |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    /// True once bits past the end of the input were used: the file is truncated.
    #[inline(always)]
    pub fn overrun(&self) -> bool {
        self.fed_after_end.is_some_and(|fed| fed > self.count)
    }

    /// Decodes one Huffman symbol.
    #[inline(always)]
    pub fn symbol(&mut self, table: &HuffmanTable) -> Result<u8, BitError> {
        if self.count < 16 {
            self.refill();
        }
        let peek = (self.buf >> (64 - LOOKUP_BITS)) as usize;
        let (len, value) = table.lookup[peek];
        if len > 0 {
            self.consume(u32::from(len));
            return Ok(value);
        }
        let bits = (self.buf >> 48) as i32; // the top 16 bits
        for len in LOOKUP_BITS + 1..=16 {
            let code = bits >> (16 - len);
            if code <= table.maxcode[len as usize] {
                self.consume(len);
                let index = table.valoffset[len as usize] + code;
                return table
                    .values
                    .get(index as usize)
                    .copied()
                    .ok_or(BitError::BadCode);
            }
        }
        Err(BitError::BadCode)
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    /// `n` (0-16) raw bits.
    #[inline(always)]
    pub fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.count < n {
            self.refill();
        }
        let v = (self.buf >> (64 - n)) as u32;
        self.consume(n);
        v
    }

    /// Skips `n` (0-16) bits.
    #[inline(always)]
    pub fn skip(&mut self, n: u32) {
        if self.count < n {
            self.refill();
        }
        self.consume(n);
    }

    /// A coefficient of `size` bits (0-16), sign-extended as JPEG codes it.
    #[inline(always)]
    pub fn receive_extend(&mut self, size: u8) -> i32 {
        let size = u32::from(size);
        extend(self.bits(size) as i32, size)
    }

    /// A DC difference (its size symbol and extra bits).
    #[inline(always)]
    pub fn dc_diff(&mut self, table: &HuffmanTable) -> Result<i32, BitError> {
        if self.count < LOOKUP_BITS {
            self.refill();
        }
        let entry = table.dc_fast[(self.buf >> (64 - LOOKUP_BITS)) as usize];
        if entry != 0 {
            self.consume((entry & 0xFF) as u32);
            return Ok(entry >> 8);
        }
        let size = self.symbol(table)?;
        if size > 16 {
            return Err(BitError::BadCode);
        }
        Ok(self.receive_extend(size))
    }

    /// An AC coefficient whose code and extra bits fit in one lookup: `Some((run, value))`,
    /// consumed (end of block: run [`AC_EOB`]; ZRL: run 15, value 0). `None`: decode it with [`BitReader::symbol`].
    #[inline(always)]
    pub fn ac_fast(&mut self, table: &HuffmanTable) -> Option<(usize, i32)> {
        if self.count < LOOKUP_BITS {
            self.refill();
        }
        let entry = table.ac_fast[(self.buf >> (64 - LOOKUP_BITS)) as usize];
        if entry == 0 {
            return None;
        }
        self.consume((entry & 0xFF) as u32);
        Some((((entry >> 8) & 0xFF) as usize, entry >> 16))
    }

    /// Skips the AC symbols (with their extra bits) of zigzag position `k` on, of a band ending
    /// before `end`, that fit in one lookup: one, or two when the first leaves the band open.
    /// `Some(k)`: the zigzag position after them (64 or more after an end of block). `None`:
    /// decode the next one with [`BitReader::symbol`].
    #[inline(always)]
    pub fn skip_ac(&mut self, table: &HuffmanTable, k: usize, end: usize) -> Option<usize> {
        if self.count < LOOKUP_BITS {
            self.refill();
        }
        let entry = table.skip[(self.buf >> (64 - LOOKUP_BITS)) as usize];
        if entry == 0 {
            return None;
        }
        let first = entry & 0xFFFF;
        let chosen = if k + ((first >> 4) as usize) < end {
            entry >> 16
        } else {
            first
        };
        self.consume(chosen & 15);
        Some(k + (chosen >> 4) as usize)
    }

    /// At a restart interval's end: drops the partial byte and the RSTn marker after it. A
    /// missing marker is tolerated (decoding goes on from where it is).
    pub fn restart(&mut self) {
        self.buf = 0;
        self.count = 0;
        if self.fed_after_end.is_some() {
            return;
        }
        self.stopped = false;
        let mut i = self.pos;
        while self.data.get(i) == Some(&0xFF) && self.data.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if let (Some(&0xFF), Some(&m)) = (self.data.get(i), self.data.get(i + 1)) {
            if (0xD0..=0xD7).contains(&m) {
                self.pos = i + 2;
            }
        }
    }

    /// Where the marker ending this scan is (the end of the input when there is none).
    pub fn end_of_scan(&self) -> usize {
        next_marker(self.data, self.pos)
    }
}

/// JPEG's sign extension of a `size`-bit magnitude category value.
#[inline(always)]
fn extend(v: i32, size: u32) -> i32 {
    if size > 0 && v < (1 << (size - 1)) {
        v - (1 << size) + 1
    } else {
        v
    }
}

/// The first marker at or after `from` that is not a stuffed byte, fill or RSTn (the end of
/// the input when there is none).
pub(crate) fn next_marker(data: &[u8], from: usize) -> usize {
    let mut i = from;
    // from one 0xFF to the next (memchr: many bytes per step), then look at the byte after it
    while let Some(at) = data.get(i..).and_then(|rest| memchr::memchr(0xFF, rest)) {
        let at = i + at;
        match data.get(at + 1) {
            Some(&m) if m != 0x00 && m != 0xFF && !(0xD0..=0xD7).contains(&m) => return at,
            Some(_) => i = at + 1,
            None => break,
        }
    }
    data.len()
}
