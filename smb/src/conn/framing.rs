//! Reading direct-TCP frames (MS-SMB2 2.1) with the size cap applied before allocation.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use shoal_smb_proto::framing::{parse_frame_header, FrameError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, ReadError> {
    let mut h = [0u8; 4];
    match rd.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = parse_frame_header(h, max)?;
    // Read into spare capacity, limited to this frame: no zeroing of up to `max` bytes first
    // (9% of the CPU of a large signed WRITE stream).
    let mut buf = Vec::with_capacity(len);
    let mut frame = (&mut *rd).take(len as u64);
    while buf.len() < len {
        if frame.read_buf(&mut buf).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(Some(buf))
}

/// A writer whose writes fail with `TimedOut` when one stays pending (no byte accepted) for
/// `limit`: a peer that stops reading replies loses its connection instead of pinning it
/// (and its slot) while the server is blocked sending (issue 11).
pub(crate) struct SendTimeout<W> {
    inner: W,
    limit: Duration,
    /// Armed when a write first returns pending; cleared on progress.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<W> SendTimeout<W> {
    pub(crate) fn new(inner: W, limit: Duration) -> Self {
        SendTimeout {
            inner,
            limit,
            timer: None,
        }
    }

    /// After a pending poll: fails once the write has been pending for `limit`.
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let limit = self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "peer is not reading: send timeout",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

use std::future::Future;

impl<W: AsyncWrite + Unpin> AsyncWrite for SendTimeout<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => this.check(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => {
                this.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => this.check(cx).map(Err),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Ready(r) => {
                this.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => this.check(cx).map(Err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A peer that never reads: the write fails after the limit instead of hanging.
    #[tokio::test]
    async fn stalled_write_times_out() {
        let (a, _b) = tokio::io::duplex(64);
        let mut w = SendTimeout::new(a, Duration::from_millis(300));
        let started = tokio::time::Instant::now();
        let err = w.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
