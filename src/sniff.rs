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

/// The segments of a JPEG before its image data: (marker, payload), stopping at the start
/// of scan or at the first byte that breaks the structure.
fn jpeg_segments(bytes: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut at = 2usize;
    let mut done = !bytes.starts_with(&[0xFF, 0xD8]);
    std::iter::from_fn(move || {
        while !done {
            if at + 4 > bytes.len() || bytes[at] != 0xFF {
                done = true;
                return None;
            }
            let marker = bytes[at + 1];
            if marker == 0xFF {
                at += 1; // fill byte
                continue;
            }
            if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
                at += 2;
                continue;
            }
            let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            if len < 2 || at + 2 + len > bytes.len() || marker == 0xDA || marker == 0xD9 {
                done = true;
                return None;
            }
            let payload = &bytes[at + 4..at + 2 + len];
            at += 2 + len;
            return Some((marker, payload));
        }
        None
    })
}

/// Width and height a JPEG or PNG declares in its header (before any pixel is decoded), from
/// its first bytes (a JPEG's frame header follows its EXIF and other segments).
pub fn image_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if image(bytes) == Some("image/png") && bytes.len() >= 24 && &bytes[12..16] == b"IHDR" {
        let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
        let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
        return Some((w, h));
    }
    jpeg_segments(bytes)
        .find(|(m, _)| (0xC0..=0xCF).contains(m) && ![0xC4, 0xC8, 0xCC].contains(m))
        .filter(|(_, p)| p.len() >= 5)
        .map(|(_, p)| {
            let h = u16::from_be_bytes([p[1], p[2]]);
            let w = u16::from_be_bytes([p[3], p[4]]);
            (u32::from(w), u32::from(h))
        })
}

/// The EXIF orientation (1 to 8) a JPEG declares, if any: how the stored pixels must be
/// turned to be seen upright (6: a quarter turn clockwise, 8: counter-clockwise, 3: half).
pub fn jpeg_orientation(bytes: &[u8]) -> Option<u8> {
    let (_, exif) = jpeg_segments(bytes).find(|(m, p)| *m == 0xE1 && p.starts_with(b"Exif\0\0"))?;
    let tiff = &exif[6..];
    let big = match tiff.get(..4)? {
        b"MM\0\x2a" => true,
        b"II\x2a\0" => false,
        _ => return None,
    };
    let u16_at = |o: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(o..o + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(o..o + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = u32_at(4)? as usize;
    let entries = usize::from(u16_at(ifd)?);
    (0..entries.min(256))
        .map(|k| ifd + 2 + 12 * k)
        .find(|e| u16_at(*e) == Some(0x0112))
        .and_then(|e| u16_at(e + 8))
        .filter(|o| (1..=8).contains(o))
        .map(|o| o as u8)
}

/// The first [`HEAD_BYTES`] of a file (fewer if it is shorter).
pub fn read_head(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    read_start(path, HEAD_BYTES)
}

/// The first `n` bytes of a file (fewer if it is shorter).
pub fn read_start(path: &std::path::Path, n: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(n.min(1 << 20));
    std::fs::File::open(path)?
        .take(n as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// The UTF-8 byte-order mark, which Windows editors write at the start of a text file; it is
/// not part of the text.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A text file of at most `limit` bytes, read no further than `limit` and a little: a larger
/// file comes back cut (its text lossy, longer than `limit`) so that the caller refuses it for
/// its size without having read it whole. A leading byte-order mark is dropped and not counted.
/// Text within the limit that is not UTF-8 is an `InvalidData` error.
pub fn read_bounded_text(path: &std::path::Path, limit: usize) -> std::io::Result<String> {
    let mut bytes = read_start(path, UTF8_BOM.len() + limit + 4)?;
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
    }
    bytes.truncate(limit + 4);
    if bytes.len() > limit {
        // Cut anywhere: the caller refuses it for its size alone.
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_drops_a_byte_order_mark_and_does_not_count_it() {
        let d = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let p = d.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let marked = |text: &str| [UTF8_BOM, text.as_bytes()].concat();
        // At the limit with a mark: read whole, without it.
        let p = file("at.json", &marked("{\"id\":\"x\"}"));
        assert_eq!(read_bounded_text(&p, 10).unwrap(), "{\"id\":\"x\"}");
        // One byte over: cut, longer than the limit, so the caller refuses it.
        let p = file("over.json", &marked("{\"id\":\"xy\"}"));
        assert!(read_bounded_text(&p, 10).unwrap().len() > 10);
        // Far over, with or without a mark: read no further than the limit and 4 bytes.
        for text in ["x".repeat(100), format!("\u{feff}{}", "x".repeat(100))] {
            let p = file("far.json", text.as_bytes());
            assert_eq!(read_bounded_text(&p, 10).unwrap().len(), 14);
        }
        // No mark: as it is; a mark in the middle is text.
        let p = file("plain.json", "a\u{feff}b".as_bytes());
        assert_eq!(read_bounded_text(&p, 10).unwrap(), "a\u{feff}b");
        // Not UTF-8 within the limit: an error.
        let p = file("latin1.json", &marked("caf\u{e9}")[..7]);
        assert_eq!(
            read_bounded_text(&p, 10).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }

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

    /// A JPEG start: SOI, an EXIF APP1 (little-endian, orientation `o`), a frame header.
    fn jpeg_with(o: u16, w: u16, h: u16) -> Vec<u8> {
        let mut tiff = b"II\x2a\0\x08\0\0\0".to_vec();
        tiff.extend(2u16.to_le_bytes());
        // An unrelated tag first, then the orientation.
        tiff.extend([0x0F, 0x01, 2, 0, 4, 0, 0, 0, b'a', b'b', b'c', 0]);
        tiff.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0]);
        tiff.extend(o.to_le_bytes());
        tiff.extend([0, 0, 0, 0, 0, 0]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(tiff);
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
        out.extend(((app1.len() + 2) as u16).to_be_bytes());
        out.extend(app1);
        out.extend([0xFF, 0xC0, 0, 11, 8]);
        out.extend(h.to_be_bytes());
        out.extend(w.to_be_bytes());
        out.extend([1, 1, 0x11, 0, 0xFF, 0xDA, 0, 2]);
        out
    }

    #[test]
    fn picture_headers_are_read_without_decoding() {
        let jpeg = jpeg_with(8, 640, 480);
        assert_eq!(jpeg_orientation(&jpeg), Some(8));
        assert_eq!(image_dimensions(&jpeg), Some((640, 480)));
        assert_eq!(jpeg_orientation(&jpeg_with(1, 2, 2)), Some(1));
        assert_eq!(jpeg_orientation(&jpeg_with(9, 2, 2)), None);
        // Cut inside the EXIF segment: nothing is read past the end.
        assert_eq!(jpeg_orientation(&jpeg[..20]), None);
        assert_eq!(image_dimensions(&jpeg[..20]), None);
        let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
        png.extend(b"IHDR");
        png.extend(20_000u32.to_be_bytes());
        png.extend(30_000u32.to_be_bytes());
        assert_eq!(image_dimensions(&png), Some((20_000, 30_000)));
        assert_eq!(image_dimensions(b"not a picture at all"), None);
    }
}
