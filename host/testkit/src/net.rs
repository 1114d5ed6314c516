//! Free ports on 127.0.0.1: bound, read, released. (Another process could take one in between;
//! tests that start servers report a bind failure clearly.)

use std::net::{TcpListener, UdpSocket};

/// A UDP port on 127.0.0.1 that was free a moment ago (for QUIC).
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port on 127.0.0.1");
    socket.local_addr().expect("local addr").port()
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for HTTP).
pub fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port on 127.0.0.1");
    listener.local_addr().expect("local addr").port()
}
