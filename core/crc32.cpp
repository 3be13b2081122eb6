#include "core/crc32.h"

#include <array>

namespace paratune {

namespace {
// Slicing-by-4 tables: t[0] is the classic byte table, t[k][i] advances t[k-1][i] by a byte.
using Tables = std::array<std::array<uint32_t, 256>, 4>;
Tables make_tables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (int k = 1; k < 4; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  return t;
}
const Tables& tables() {
  static const Tables t = make_tables();
  return t;
}
}  // namespace

uint32_t crc32_update(uint32_t crc, const void* data, size_t bytes) {
  const Tables& t = tables();
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  while (bytes >= 4) {
    c ^= uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    c = t[3][c & 0xff] ^ t[2][(c >> 8) & 0xff] ^ t[1][(c >> 16) & 0xff] ^ t[0][c >> 24];
    p += 4;
    bytes -= 4;
  }
  while (bytes--) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

}  // namespace paratune
