//! What a file is, from its first bytes: the containers and picture formats liveness reads.
//! The service refuses an upload that is none of them before FFmpeg opens it, and `verify`
//! refuses such a file the same way, so a text file named `.mp4` is never decoded as
//! whatever FFmpeg's probing guesses (it reads text as 40 s of AMR audio).

/// Bytes of a file's start the sniffers look at (an MPEG transport stream needs two packets).
pub const HEAD_BYTES: usize = 512;

/// QuickTime atoms a MOV file may start with (old files have no `ftyp`).
const QUICKTIME_ATOMS: [&[u8; 4]; 6] = [b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"];

/// The content type of a video from its first bytes, if it is a container we read: MP4,
/// QuickTime, WebM, Matroska, MPEG program or transport stream, AVI.
pub fn video(head: &[u8]) -> Option<&'static str> {
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return Some(if &head[8..10] == b"qt" {
            "video/quicktime"
        } else {
            "video/mp4"
        });
    }
    if head.len() >= 8 && QUICKTIME_ATOMS.iter().any(|a| &head[4..8] == *a) {
        return Some("video/quicktime");
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        let webm = head.windows(4).any(|w| w == b"webm");
        return Some(if webm {
            "video/webm"
        } else {
            "video/x-matroska"
        });
    }
    if head.starts_with(&[0x00, 0x00, 0x01, 0xBA]) {
        return Some("video/mpeg");
    }
    if head.len() > 376 && head[0] == 0x47 && head[188] == 0x47 && head[376] == 0x47 {
        return Some("video/mp2t");
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..11] == b"AVI" {
        return Some("video/x-msvideo");
    }
    None
}

/// The content type of a photo from its first bytes (JPEG or PNG).
pub fn image(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

/// The first [`HEAD_BYTES`] of a file (fewer if it is shorter).
pub fn read_head(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    std::fs::File::open(path)?
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_reads_magic_not_names() {
        let mut mp4 = vec![0, 0, 0, 0x20];
        mp4.extend_from_slice(b"ftypisom\0\0\0\0");
        assert_eq!(video(&mp4), Some("video/mp4"));
        let mut mov = vec![0, 0, 0, 0x14];
        mov.extend_from_slice(b"ftypqt  \0\0\0\0");
        assert_eq!(video(&mov), Some("video/quicktime"));
        assert_eq!(
            video(b"\0\0\0\x08wide\0\0\0\0mdat"),
            Some("video/quicktime")
        );
        assert_eq!(
            video(&[0x1A, 0x45, 0xDF, 0xA3, 0, b'w', b'e', b'b', b'm']),
            Some("video/webm")
        );
        assert_eq!(video(&[0, 0, 1, 0xBA, 0x44]), Some("video/mpeg"));
        let mut ts = vec![0u8; 400];
        for k in [0, 188, 376] {
            ts[k] = 0x47;
        }
        assert_eq!(video(&ts), Some("video/mp2t"));
        ts[188] = 0;
        assert_eq!(video(&ts), None);
        assert_eq!(video(b"hello, this is text, not a video"), None);
        // Raw H.264 (an Annex B start code) and GIF are not containers we read.
        assert_eq!(video(&[0, 0, 0, 1, 0x67, 0x64, 0, 0x1F]), None);
        assert_eq!(video(b"GIF89a\x10\0\x10\0"), None);
        assert_eq!(image(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image(b"GIF89a"), None);
    }
}
