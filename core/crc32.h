// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib's crc32()) over bytes: the
// checksum of checkpoint blocks and files. crc32("123456789") == 0xCBF43926.
//
//   uint32_t c = crc32_update(0, buf, n);  c = crc32_update(c, more, m);  // incremental
#pragma once

#include <cstddef>
#include <cstdint>

namespace paratune {

/// Continues a CRC-32 over `bytes` bytes at `data` (start with crc = 0).
uint32_t crc32_update(uint32_t crc, const void* data, size_t bytes);

}  // namespace paratune
