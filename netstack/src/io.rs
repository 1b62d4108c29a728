//! Async byte I/O for TCP streams in `no_std`: [`TcpStream`] implements `embedded-io-async`'s
//! [`Read`] and [`Write`] (the traits the embedded Rust ecosystem shares, so HTTP servers,
//! TLS and codecs written against them run on Morgana unchanged), and with the `std` feature
//! `futures-io`'s `AsyncRead`/`AsyncWrite` for hosted code built on the `futures` ecosystem.
//!
//! [`Read`]: embedded_io_async::Read
//! [`Write`]: embedded_io_async::Write

use core::future::poll_fn;

pub use embedded_io_async::{ErrorKind, ErrorType, Read, Write};

use crate::iface::{TcpSocketError, TcpStream};

impl embedded_io_async::Error for TcpSocketError {
    fn kind(&self) -> ErrorKind {
        match self {
            TcpSocketError::Refused => ErrorKind::ConnectionRefused,
            TcpSocketError::Reset => ErrorKind::ConnectionReset,
            TcpSocketError::TimedOut => ErrorKind::TimedOut,
            TcpSocketError::Closed => ErrorKind::NotConnected,
            TcpSocketError::NoIsnSecret => ErrorKind::Unsupported,
            TcpSocketError::NoPorts => ErrorKind::AddrInUse,
            TcpSocketError::BadDestination => ErrorKind::InvalidInput,
        }
    }
}

impl ErrorType for TcpStream {
    type Error = TcpSocketError;
}

impl Read for TcpStream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TcpSocketError> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }
}

impl Write for TcpStream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, TcpSocketError> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    async fn flush(&mut self) -> Result<(), TcpSocketError> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }
}

#[cfg(feature = "std")]
mod futures_adapters {
    extern crate std;

    use core::pin::Pin;
    use core::task::{Context, Poll};
    use std::io;

    use crate::iface::{TcpSocketError, TcpStream};

    impl From<TcpSocketError> for io::Error {
        fn from(e: TcpSocketError) -> io::Error {
            let kind = match e {
                TcpSocketError::Refused => io::ErrorKind::ConnectionRefused,
                TcpSocketError::Reset => io::ErrorKind::ConnectionReset,
                TcpSocketError::TimedOut => io::ErrorKind::TimedOut,
                TcpSocketError::Closed => io::ErrorKind::NotConnected,
                TcpSocketError::NoIsnSecret => io::ErrorKind::Unsupported,
                TcpSocketError::NoPorts => io::ErrorKind::AddrInUse,
                TcpSocketError::BadDestination => io::ErrorKind::InvalidInput,
            };
            io::Error::new(kind, e)
        }
    }

    impl futures_io::AsyncRead for TcpStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            TcpStream::poll_read(self.get_mut(), cx, buf).map_err(io::Error::from)
        }
    }

    impl futures_io::AsyncWrite for TcpStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            TcpStream::poll_write(self.get_mut(), cx, buf).map_err(io::Error::from)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            TcpStream::poll_flush(self.get_mut(), cx).map_err(io::Error::from)
        }

        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(self.get_mut().shutdown_now().map_err(io::Error::from))
        }
    }
}
