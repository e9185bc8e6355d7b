//! The decompressor backhand uses for squashfs, bounded. Backhand's own gzip and xz paths
//! read each block to its end, so one hostile block could expand without limit, and a
//! table of many small bombs could fill memory before a file is read. Here every block is
//! capped at the size squashfs allows it (8 KiB metadata, at most 1 MiB data — the output
//! buffer backhand passes has that capacity), and all blocks of one scan share the scan's
//! remaining byte budget.

use std::cell::Cell;
use std::io::Read;

use backhand::BackhandError;
use backhand::compression::{CompressionAction, Compressor, DefaultCompressor};

const METADATA_BLOCK: usize = 8 * 1024;
const MAX_DATA_BLOCK: usize = 1 << 20;

thread_local! {
    /// Bytes backhand may still decompress on this thread (the walk is single-threaded).
    static BUDGET: Cell<u64> = const { Cell::new(0) };
}

pub(crate) struct Bounded;

pub(crate) static BOUNDED: Bounded = Bounded;

/// Runs `f` with `budget` bytes of squashfs decompression allowed; returns what is left.
pub(crate) fn with_budget<T>(budget: u64, f: impl FnOnce() -> T) -> (T, u64) {
    let before = BUDGET.with(|b| b.replace(budget));
    let value = f();
    let left = BUDGET.with(|b| b.replace(before));
    (value, left)
}

fn bomb(what: &str) -> BackhandError {
    BackhandError::StdIo(std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string()))
}

impl CompressionAction for Bounded {
    type Error = BackhandError;
    type Compressor = Compressor;
    type FilesystemCompressor = backhand::FilesystemCompressor;
    type SuperBlock = backhand::SuperBlock;

    fn decompress(&self, bytes: &[u8], out: &mut Vec<u8>, compressor: Compressor) -> Result<(), BackhandError> {
        let cap = out.capacity().clamp(METADATA_BLOCK, MAX_DATA_BLOCK);
        let start = out.len();
        match compressor {
            Compressor::Gzip => {
                flate2::read::ZlibDecoder::new(bytes)
                    .take(cap as u64 + 1)
                    .read_to_end(out)?;
            }
            Compressor::Xz => {
                let stream =
                    liblzma::stream::Stream::new_stream_decoder(64 << 20, 0).map_err(|e| bomb(&format!("xz: {e}")))?;
                liblzma::read::XzDecoder::new_stream(bytes, stream)
                    .take(cap as u64 + 1)
                    .read_to_end(out)?;
            }
            // zstd and lz4 already write only into the buffer's capacity.
            other => DefaultCompressor.decompress(bytes, out, other)?,
        }
        let produced = (out.len() - start) as u64;
        if produced > cap as u64 {
            return Err(bomb("squashfs block decompresses beyond the largest block size (bomb)"));
        }
        let left = BUDGET.with(|b| b.get());
        if produced > left {
            return Err(bomb("squashfs decompression exceeded the scan's byte budget"));
        }
        BUDGET.with(|b| b.set(left - produced));
        Ok(())
    }

    fn compress(
        &self,
        bytes: &[u8],
        fc: backhand::FilesystemCompressor,
        block_size: u32,
    ) -> Result<Vec<u8>, BackhandError> {
        DefaultCompressor.compress(bytes, fc, block_size)
    }
}
