//! Huffman decoding of entropy-coded JPEG data: a 64-bit bit buffer over the bytes (stuffed
//! zeros removed, stopping at markers) and tables with a 9-bit lookup for short codes.

/// Bits per fast lookup.
const LOOKUP_BITS: u32 = 9;

/// One Huffman table (JPEG's BITS and HUFFVAL).
#[derive(Clone)]
pub(crate) struct HuffmanTable {
    /// For each 9-bit prefix: (code length, symbol); length 0 when the code is longer.
    lookup: Vec<(u8, u8)>,
    /// For codes of 1..=16 bits: the largest code of that length (or -1) and the offset of its
    /// first symbol in `values` minus its first code.
    maxcode: [i32; 18],
    valoffset: [i32; 17],
    values: Vec<u8>,
}

impl HuffmanTable {
    /// `None` when the counts describe more codes than fit.
    pub fn new(counts: &[u8; 16], values: &[u8]) -> Option<HuffmanTable> {
        let mut lookup = vec![(0u8, 0u8); 1 << LOOKUP_BITS];
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
        Some(HuffmanTable {
            lookup,
            maxcode,
            valoffset,
            values: values.to_vec(),
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
        let v = self.bits(size) as i32;
        if size > 0 && v < (1 << (size - 1)) {
            v - (1 << size) + 1
        } else {
            v
        }
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

/// The first marker at or after `from` that is not a stuffed byte, fill or RSTn (the end of
/// the input when there is none).
pub(crate) fn next_marker(data: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 1 < data.len() {
        if data[i] == 0xFF {
            let m = data[i + 1];
            if m != 0x00 && m != 0xFF && !(0xD0..=0xD7).contains(&m) {
                return i;
            }
        }
        i += 1;
    }
    data.len()
}
