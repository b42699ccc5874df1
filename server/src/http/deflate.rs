//! Gzip bodies put together from pieces compressed apart. Deflate blocks that end on a byte
//! boundary (a sync flush) may be followed by any others; so a page's own parts are compressed
//! for each response, its shared HTML once for everyone, and the gzip trailer's checksum is
//! combined from the pieces' own.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};

/// One piece of a gzip body: deflate blocks, and what the trailer needs of what they hold.
pub struct Deflated {
    blocks: Bytes,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Deflated {
    /// `data` compressed; `last` ends the stream, else other pieces may follow it.
    pub fn new(data: &[u8], level: Compression, last: bool) -> Deflated {
        let mut compress = Compress::new(level, false);
        let flush = if last {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        let mut blocks = Vec::with_capacity(data.len() / 4 + 64);
        loop {
            if blocks.capacity() - blocks.len() < 64 {
                blocks.reserve(blocks.capacity().max(1024));
            }
            let consumed = usize::try_from(compress.total_in()).unwrap_or(usize::MAX);
            let status = compress
                .compress_vec(&data[consumed..], &mut blocks, flush)
                // In-memory compression fails only on misuse (a flush after the end).
                .expect("deflate into a growing buffer");
            let all_in = usize::try_from(compress.total_in()).ok() == Some(data.len());
            // zlib's rule: a flush is complete when it leaves room in the output.
            let flushed = blocks.len() < blocks.capacity();
            match status {
                Status::StreamEnd => break,
                Status::Ok | Status::BufError if all_in && flushed && !last => break,
                Status::Ok | Status::BufError => {}
            }
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        Deflated {
            blocks: blocks.into(),
            crc,
            len: data.len() as u64,
        }
    }
}

/// A gzip body of `pieces` in order, the last made `last`: header, their blocks, trailer.
pub fn gzip(pieces: &[&Deflated]) -> Vec<Bytes> {
    // Deflate, no flags, no time, no extra flags, unknown system (RFC 1952).
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut crc = crc32fast::Hasher::new();
    let mut len: u64 = 0;
    let mut body = Vec::with_capacity(pieces.len() + 2);
    body.push(Bytes::from_static(&HEADER));
    for piece in pieces {
        crc.combine(&piece.crc);
        len += piece.len;
        body.push(piece.blocks.clone());
    }
    let mut trailer = Vec::with_capacity(8);
    trailer.extend_from_slice(&crc.finalize().to_le_bytes());
    // The size modulo 2^32, as the format has it.
    trailer.extend_from_slice(&(len as u32).to_le_bytes());
    body.push(trailer.into());
    body
}

/// Whether a request's `Accept-Encoding` takes gzip (and not with `q=0`).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|offer| {
        let mut parts = offer.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let refused = parts.any(|param| {
            param
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")) && !refused
    })
}

/// How many shared pieces are kept compressed: one per view of the portfolio looked at in the
/// same second is plenty.
const KEPT: usize = 8;

/// Shared HTML compressed once, for as long as it is shared: found by the `Arc` it is sent
/// from, which is kept with it so that its address stays its own.
#[derive(Default)]
pub struct KeptDeflated {
    kept: Mutex<Vec<(Arc<str>, Arc<Deflated>)>>,
}

impl KeptDeflated {
    pub fn get(&self, html: &Arc<str>) -> Arc<Deflated> {
        if let Some(deflated) = self.find(html) {
            return deflated;
        }
        // Compressed outside the lock; two requests meeting here both compress, and the first
        // to finish is kept.
        let deflated = Arc::new(Deflated::new(
            html.as_bytes(),
            Compression::default(),
            false,
        ));
        let mut kept = self.kept();
        if let Some(first) = deflated_of(&kept, html) {
            return first;
        }
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push((html.clone(), deflated.clone()));
        deflated
    }

    fn find(&self, html: &Arc<str>) -> Option<Arc<Deflated>> {
        deflated_of(&self.kept(), html)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Vec<(Arc<str>, Arc<Deflated>)>> {
        // A panic while holding it left nothing half-written: entries are added whole.
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn deflated_of(kept: &[(Arc<str>, Arc<Deflated>)], html: &Arc<str>) -> Option<Arc<Deflated>> {
    kept.iter()
        .find(|(kept, _)| Arc::ptr_eq(kept, html))
        .map(|(_, deflated)| deflated.clone())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(body: &[Bytes]) -> String {
        let bytes: Vec<u8> = body.iter().flat_map(|b| b.iter().copied()).collect();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .expect("a valid gzip stream, its checksum and size right");
        text
    }

    #[test]
    fn pieces_compressed_apart_make_one_gzip_body() {
        let head = "<html><head><title>In flight</title></head><body>".repeat(50);
        let table = "<tr><td>gitaly_find_commit_v2</td><td>5 %</td></tr>".repeat(2000);
        let tail = "</body></html>";
        let shared = Deflated::new(table.as_bytes(), Compression::default(), false);
        let body = gzip(&[
            &Deflated::new(head.as_bytes(), Compression::fast(), false),
            &shared,
            &Deflated::new(tail.as_bytes(), Compression::fast(), true),
        ]);
        assert_eq!(gunzip(&body), format!("{head}{table}{tail}"));
        assert!(shared.blocks.len() < table.len() / 10, "it compresses");
        // Empty pieces are pieces too.
        let body = gzip(&[
            &Deflated::new(b"", Compression::fast(), false),
            &shared,
            &Deflated::new(b"", Compression::fast(), true),
        ]);
        assert_eq!(gunzip(&body), table);
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        assert!(accepts_gzip("gzip, deflate, br, zstd"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("x-gzip"));
        assert!(!accepts_gzip("br, gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("gzipped"));
    }

    #[test]
    fn shared_html_is_compressed_once_while_it_is_shared() {
        let kept = KeptDeflated::default();
        let table: Arc<str> = "<table></table>".into();
        let first = kept.get(&table);
        assert!(Arc::ptr_eq(&first, &kept.get(&table)));
        // The same text rendered again is another rendering.
        let again: Arc<str> = "<table></table>".into();
        assert!(!Arc::ptr_eq(&first, &kept.get(&again)));
        for _ in 0..KEPT * 2 {
            kept.get(&Arc::from("<p></p>"));
        }
        assert_eq!(kept.kept().len(), KEPT);
    }
}
