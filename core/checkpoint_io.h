// Durable, checksummed file I/O for checkpoints (POSIX, torch-free).
//
// BlockWriter streams a file to "<path>.tmp", CRC-32 per block of block_bytes as it goes;
// commit() fsyncs, renames it over <path> and fsyncs the folder, so <path> either does not exist
// or is complete (a crash leaves only the temporary). BlockReader reads byte ranges of such a
// file and verifies every block it touches against the expected CRCs before returning data; it
// keeps the last few verified blocks, so reads in increasing offset order touch each block once.
//
//   BlockWriter w("d/rank-00000.bin", 1 << 18);
//   int64_t at = w.offset(); PARATUNE_RETURN_IF_ERROR(w.append(p, n)); ...
//   PARATUNE_RETURN_IF_ERROR(w.commit());  w.block_crc32()
//   BlockReader r("d/rank-00000.bin", index.data_bytes, index.block_bytes, index.block_crc32);
//   PARATUNE_RETURN_IF_ERROR(r.read(offset, bytes, out));
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace paratune {

/// Writes `text` to `path` durably: temporary file, fsync, rename, fsync of the folder.
Status write_file_durable(const std::string& path, const std::string& text);
/// fsync of a folder (makes renames inside it durable).
Status fsync_dir(const std::string& dir);

class BlockWriter {
 public:
  BlockWriter(std::string path, int64_t block_bytes);
  ~BlockWriter();  // removes the temporary if commit() did not happen
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  /// Bytes appended so far (the offset of the next append).
  int64_t offset() const { return offset_; }
  Status append(const void* data, int64_t bytes);
  /// Flushes, fsyncs, renames into place, fsyncs the folder.
  Status commit();
  /// Writes buffered bytes to the temporary file (no fsync, no rename).
  Status flush_buffer();
  /// CRC-32 of each block (valid after commit()).
  const std::vector<uint32_t>& block_crc32() const { return crcs_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  int64_t block_bytes_, offset_ = 0;
  uint32_t cur_crc_ = 0;
  int64_t cur_fill_ = 0;   // bytes of the current block seen
  std::vector<char> buf_;  // pending write buffer
  std::vector<uint32_t> crcs_;
  Status error_;
  bool committed_ = false;
};

class BlockReader {
 public:
  BlockReader(std::string path, int64_t bytes, int64_t block_bytes, std::vector<uint32_t> crcs);
  ~BlockReader();
  BlockReader(const BlockReader&) = delete;
  BlockReader& operator=(const BlockReader&) = delete;

  /// Copies bytes [offset, offset + bytes) to `out` after verifying the blocks they touch; a
  /// checksum mismatch or short read names the file and the block.
  Status read(int64_t offset, int64_t bytes, void* out);
  /// Verifies every block (for `paratune checkpoint inspect --verify`).
  Status verify_all();
  /// Bytes read from the file so far.
  int64_t bytes_read() const { return bytes_read_; }

 private:
  StatusOr<const std::vector<char>*> block(int64_t b);
  std::string path_;
  int fd_ = -1;
  int64_t bytes_, block_bytes_;
  std::vector<uint32_t> crcs_;
  std::list<std::pair<int64_t, std::vector<char>>> cache_;  // most recent first
  int64_t bytes_read_ = 0;
};

}  // namespace paratune
