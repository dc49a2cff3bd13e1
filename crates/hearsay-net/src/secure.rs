//! Encrypted, authenticated links (PROTOCOL §3): the Noise XX handshake bound to the node's
//! identity, then Noise transport messages both ways.
//!
//! Proto says what the handshake checks ([`hearsay_proto::handshake`]); this module moves its
//! bytes and holds the ciphers. After the handshake each direction is a stream of Noise
//! transport messages, each a 2-byte big-endian length and at most [`MAX_NOISE`] bytes; what
//! they carry, joined, is the stream of length-prefixed protocol frames (so a frame larger
//! than one Noise message is split over several). A message that does not open (altered,
//! forged, replayed or out of order) ends its link.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use hearsay_proto::handshake::{self, Hello, MAX_NOISE, NOISE, PREAMBLE, TAG};
use hearsay_proto::wire::{self, Msg, MAX_FRAME};
use hearsay_proto::{Keypair, Remote, Role};
use snow::{Builder, HandshakeState, StatelessTransportState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod x25519;

/// Largest handshake message: the second, an ephemeral and a static key and a Hello, is about
/// 250 bytes. Until the other side has proved its key, it cannot make this node reserve more.
const MAX_HANDSHAKE_MESSAGE: usize = 512;

/// This node as its handshakes present it: its identity, and the Noise static key its
/// connections use, which the identity signs once (in the [`Hello`] it sends).
#[derive(Clone)]
pub struct Identity {
    /// Its key.
    pub key: Keypair,
    /// Its role.
    pub role: Role,
    /// The address others should dial.
    pub addr: SocketAddr,
    noise: Arc<StaticKey>,
}

/// A Noise static key pair, made at start and never stored, and the Hello that binds it.
struct StaticKey {
    private: Vec<u8>,
    /// The postcard encoding of this node's [`Hello`].
    hello: Vec<u8>,
}

impl Identity {
    /// This node's identity, with a fresh Noise static key signed by `key`.
    pub fn new(key: Keypair, role: Role, addr: SocketAddr) -> Identity {
        // Key generation fails only without a source of randomness, and the node cannot run
        // without one (its own key came from it).
        let pair = builder()
            .generate_keypair()
            .expect("the OS's randomness for a Noise static key");
        let mut public = [0; 32];
        public.copy_from_slice(&pair.public);
        let hello = Hello::new(&key, role, addr, &public);
        Identity::with_hello(key, role, addr, pair.private, &hello)
    }

    fn with_hello(
        key: Keypair,
        role: Role,
        addr: SocketAddr,
        private: Vec<u8>,
        hello: &Hello,
    ) -> Identity {
        let noise = Arc::new(StaticKey {
            private,
            hello: wire::encode(hello),
        });
        Identity {
            key,
            role,
            addr,
            noise,
        }
    }
}

fn builder() -> Builder<'static> {
    // The name is a constant of ours and parses: a test makes a handshake with it.
    Builder::with_resolver(
        NOISE.parse().expect("the Noise protocol name"),
        Box::new(x25519::Resolver::new()),
    )
}

/// Why a handshake did not complete; the link is not opened.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeFailed {
    /// The connection failed.
    #[error("handshake failed: {0}")]
    Io(#[from] std::io::Error),
    /// The other side closed it.
    #[error("handshake failed: closed during the handshake")]
    Closed,
    /// A Hello did not decode.
    #[error("handshake failed: {0}")]
    Frame(#[from] wire::DecodeError),
    /// The other side's preamble or Hello does not hold.
    #[error("handshake failed: {0}")]
    Refused(#[from] handshake::HandshakeError),
    /// A Noise handshake message was too long, or did not hold.
    #[error("handshake failed: Noise: {0}")]
    Noise(String),
    /// Not finished in time.
    #[error("handshake not finished within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
}

impl From<snow::Error> for HandshakeFailed {
    fn from(e: snow::Error) -> HandshakeFailed {
        HandshakeFailed::Noise(e.to_string())
    }
}

/// Runs the handshake on a connection this node opened (it is the Noise initiator).
pub async fn handshake(
    stream: TcpStream,
    me: &Identity,
    limit: Duration,
) -> Result<(Channel, Remote), HandshakeFailed> {
    run(stream, me, limit, true).await
}

/// Runs the handshake on a connection this node accepted (it is the Noise responder).
pub async fn accept(
    stream: TcpStream,
    me: &Identity,
    limit: Duration,
) -> Result<(Channel, Remote), HandshakeFailed> {
    run(stream, me, limit, false).await
}

async fn run(
    mut stream: TcpStream,
    me: &Identity,
    limit: Duration,
    initiator: bool,
) -> Result<(Channel, Remote), HandshakeFailed> {
    let source = stream.peer_addr()?;
    let _ = stream.set_nodelay(true);
    let steps = async {
        let noise = builder()
            .local_private_key(&me.noise.private)?
            .prologue(&PREAMBLE)?;
        let mut noise = if initiator {
            noise.build_initiator()?
        } else {
            noise.build_responder()?
        };
        let mut buf = BytesMut::with_capacity(1024);
        // The preamble goes at once; the dialler's first Noise message goes with it.
        let mut out = PREAMBLE.to_vec();
        if initiator {
            put_message(&mut noise, &[], &mut out)?;
        }
        stream.write_all(&out).await?;
        fill(&mut stream, &mut buf, PREAMBLE.len()).await?;
        let mut preamble = [0; 8];
        preamble.copy_from_slice(&buf[..8]);
        buf.advance(8);
        handshake::check_preamble(&preamble)?;
        let theirs = if initiator {
            let theirs = take_message(&mut stream, &mut buf, &mut noise).await?;
            let theirs = check(me, &noise, &theirs)?;
            out.clear();
            put_message(&mut noise, &me.noise.hello, &mut out)?;
            stream.write_all(&out).await?;
            theirs
        } else {
            take_message(&mut stream, &mut buf, &mut noise).await?;
            out.clear();
            put_message(&mut noise, &me.noise.hello, &mut out)?;
            stream.write_all(&out).await?;
            let theirs = take_message(&mut stream, &mut buf, &mut noise).await?;
            check(me, &noise, &theirs)?
        };
        let cipher = Arc::new(noise.into_stateless_transport_mode()?);
        Ok::<_, HandshakeFailed>((buf, theirs, cipher))
    };
    let (sealed, theirs, cipher) = match tokio::time::timeout(limit, steps).await {
        Ok(done) => done?,
        Err(_) => return Err(HandshakeFailed::TimedOut(limit)),
    };
    let remote = Remote {
        id: theirs.id,
        role: theirs.role,
        addr: theirs.addr,
        source,
    };
    let channel = Channel {
        stream,
        seal: Seal {
            cipher: cipher.clone(),
            nonce: 0,
        },
        open: Open { cipher, nonce: 0 },
        sealed,
        plain: BytesMut::new(),
    };
    Ok((channel, remote))
}

/// The other side's Hello, checked against the static key its handshake used.
fn check(me: &Identity, noise: &HandshakeState, payload: &[u8]) -> Result<Hello, HandshakeFailed> {
    let hello: Hello = wire::decode(payload)?;
    let mut key = [0; 32];
    match noise.get_remote_static() {
        Some(bytes) if bytes.len() == 32 => key.copy_from_slice(bytes),
        _ => return Err(HandshakeFailed::Noise("no static key".into())),
    }
    handshake::check_hello(me.key.id(), &hello, &key)?;
    Ok(hello)
}

/// Appends the next handshake message, carrying `payload`, with its length.
fn put_message(
    noise: &mut HandshakeState,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), HandshakeFailed> {
    let mut message = [0u8; MAX_HANDSHAKE_MESSAGE];
    let len = noise.write_message(payload, &mut message)?;
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&message[..len]);
    Ok(())
}

/// Reads the next handshake message and returns its payload.
async fn take_message(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    noise: &mut HandshakeState,
) -> Result<Vec<u8>, HandshakeFailed> {
    fill(stream, buf, 2).await?;
    let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
    if len > MAX_HANDSHAKE_MESSAGE {
        let why = format!("a handshake message of {len} bytes (at most {MAX_HANDSHAKE_MESSAGE})");
        return Err(HandshakeFailed::Noise(why));
    }
    fill(stream, buf, 2 + len).await?;
    let mut payload = [0u8; MAX_HANDSHAKE_MESSAGE];
    let n = noise.read_message(&buf[2..2 + len], &mut payload)?;
    buf.advance(2 + len);
    Ok(payload[..n].to_vec())
}

/// Reads until `buf` holds at least `n` bytes.
async fn fill(stream: &mut TcpStream, buf: &mut BytesMut, n: usize) -> Result<(), HandshakeFailed> {
    while buf.len() < n {
        if stream.read_buf(buf).await? == 0 {
            return Err(HandshakeFailed::Closed);
        }
    }
    Ok(())
}

/// Why a link's bytes ended it.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A Noise message did not open.
    #[error("{FORGED}")]
    Forged,
    /// A frame did not decode, or announced more than the limit.
    #[error("bad frame: {0}")]
    Frame(#[from] wire::DecodeError),
}

/// Why a link ends when one of its Noise messages does not open.
pub const FORGED: &str =
    "authentication failed: a Noise message was altered, forged, replayed or reordered";

/// Seals the bytes one direction of a link carries.
pub struct Seal {
    cipher: Arc<StatelessTransportState>,
    nonce: u64,
}

impl Seal {
    /// Appends `plain` to `out` as Noise transport messages, each with its length.
    pub fn seal(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), ChannelError> {
        for chunk in plain.chunks(MAX_NOISE - TAG) {
            let (at, len) = (out.len(), chunk.len() + TAG);
            out.extend_from_slice(&(len as u16).to_be_bytes());
            out.resize(at + 2 + len, 0);
            // Fails only past 2^64 - 1 messages: the link ends as if forged.
            (self.cipher)
                .write_message(self.nonce, chunk, &mut out[at + 2..])
                .map_err(|_| ChannelError::Forged)?;
            self.nonce += 1;
        }
        Ok(())
    }
}

/// Opens the bytes the other direction of a link carries.
pub struct Open {
    cipher: Arc<StatelessTransportState>,
    nonce: u64,
}

impl Open {
    /// Opens every whole Noise message at the front of `sealed` onto the end of `plain`.
    /// The first that does not open ends the link: nothing of it or after it is taken.
    pub fn open(
        &mut self,
        sealed: &mut BytesMut,
        plain: &mut BytesMut,
    ) -> Result<(), ChannelError> {
        while let Some(prefix) = sealed.first_chunk::<2>() {
            let len = usize::from(u16::from_be_bytes(*prefix));
            if len < TAG {
                return Err(ChannelError::Forged);
            }
            let Some(message) = sealed.get(2..2 + len) else {
                break;
            };
            let at = plain.len();
            // Room for the tag too: the cipher opens a message in place where it has room
            // for all of it, and copies it into a buffer of its own first where it has not.
            plain.resize(at + len, 0);
            let opened = (self.cipher).read_message(self.nonce, message, &mut plain[at..]);
            let Ok(n) = opened else {
                plain.truncate(at);
                return Err(ChannelError::Forged);
            };
            plain.truncate(at + n);
            self.nonce += 1;
            sealed.advance(2 + len);
        }
        Ok(())
    }
}

/// A link after its handshake: what a client (a status request, a test) reads and writes
/// frames with. A node's links are run by [`crate::conn::run_link`].
pub struct Channel {
    pub(crate) stream: TcpStream,
    pub(crate) seal: Seal,
    pub(crate) open: Open,
    /// Bytes read and not yet opened (the handshake's read may have taken some).
    pub(crate) sealed: BytesMut,
    /// Bytes opened and not yet taken as frames.
    pub(crate) plain: BytesMut,
}

impl Channel {
    /// Sends one frame.
    pub async fn send(&mut self, msg: &Msg) -> Result<(), ChannelError> {
        let mut frame = Vec::new();
        wire::put_msg(msg, &mut frame)?;
        self.send_plain(&frame).await
    }

    /// Sends `bytes` as they are into the frame stream, framed or not (for tests of what a
    /// node does with bad frames).
    pub async fn send_plain(&mut self, bytes: &[u8]) -> Result<(), ChannelError> {
        let mut out = Vec::with_capacity(bytes.len() + 2 + TAG);
        self.seal.seal(bytes, &mut out)?;
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// The next frame; `None` when the other side closed the link.
    pub async fn recv(&mut self) -> Result<Option<Msg>, ChannelError> {
        loop {
            self.open.open(&mut self.sealed, &mut self.plain)?;
            if let Some((start, end)) = wire::next_frame(&self.plain, MAX_FRAME)? {
                let msg = wire::decode_msg(&self.plain[start..end])?;
                self.plain.advance(end);
                return Ok(Some(msg));
            }
            self.sealed.reserve(16 * 1024);
            if self.stream.read_buf(&mut self.sealed).await? == 0 {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests;
