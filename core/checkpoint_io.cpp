#include "core/checkpoint_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/crc32.h"

namespace paratune {

namespace {
constexpr size_t kWriteBuffer = 1 << 20;
constexpr size_t kCachedBlocks = 4;

std::string errno_text() {
  return std::strerror(errno);
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

Status write_all(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return InvalidArgument(path + ": write failed: " + errno_text());
    p += w;
    n -= size_t(w);
  }
  return Status::Ok();
}
}  // namespace

Status fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return InvalidArgument(dir + ": cannot open folder: " + errno_text());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return InvalidArgument(dir + ": fsync failed: " + errno_text());
  return Status::Ok();
}

Status write_file_durable(const std::string& path, const std::string& text) {
  BlockWriter w(path, int64_t(1) << 30);
  PARATUNE_RETURN_IF_ERROR(w.append(text.data(), int64_t(text.size())));
  return w.commit();
}

BlockWriter::BlockWriter(std::string path, int64_t block_bytes)
    : path_(std::move(path)), tmp_(path_ + ".tmp"), block_bytes_(block_bytes) {
  PARATUNE_CHECK(block_bytes_ > 0);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) error_ = InvalidArgument(tmp_ + ": cannot create file: " + errno_text());
  buf_.reserve(kWriteBuffer);
}

BlockWriter::~BlockWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

Status BlockWriter::flush_buffer() {
  if (!error_.ok() || buf_.empty()) return error_;
  error_ = write_all(fd_, buf_.data(), buf_.size(), tmp_);
  buf_.clear();
  return error_;
}

Status BlockWriter::append(const void* data, int64_t bytes) {
  if (!error_.ok()) return error_;
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const int64_t n = std::min(bytes, block_bytes_ - cur_fill_);
    cur_crc_ = crc32_update(cur_crc_, p, size_t(n));
    cur_fill_ += n;
    if (cur_fill_ == block_bytes_) {
      crcs_.push_back(cur_crc_);
      cur_crc_ = 0;
      cur_fill_ = 0;
    }
    if (buf_.size() + size_t(n) > kWriteBuffer) PARATUNE_RETURN_IF_ERROR(flush_buffer());
    if (size_t(n) >= kWriteBuffer) {
      PARATUNE_RETURN_IF_ERROR(error_ = write_all(fd_, p, size_t(n), tmp_));
    } else {
      buf_.insert(buf_.end(), p, p + n);
    }
    p += n;
    bytes -= n;
    offset_ += n;
  }
  return Status::Ok();
}

Status BlockWriter::commit() {
  PARATUNE_RETURN_IF_ERROR(flush_buffer());
  if (cur_fill_ > 0) {
    crcs_.push_back(cur_crc_);
    cur_fill_ = 0;
  }
  if (::fsync(fd_) != 0) return error_ = InvalidArgument(tmp_ + ": fsync failed: " + errno_text());
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0)
    return error_ = InvalidArgument(
               path_ + ": cannot rename the temporary file into place: " + errno_text());
  committed_ = true;
  return fsync_dir(parent_of(path_));
}

BlockReader::BlockReader(std::string path, int64_t bytes, int64_t block_bytes,
                         std::vector<uint32_t> crcs)
    : path_(std::move(path)), bytes_(bytes), block_bytes_(block_bytes), crcs_(std::move(crcs)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
}

BlockReader::~BlockReader() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<const std::vector<char>*> BlockReader::block(int64_t b) {
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->first != b) continue;
    cache_.splice(cache_.begin(), cache_, it);
    return &cache_.front().second;
  }
  if (fd_ < 0) return NotFound(path_ + ": cannot open file: " + errno_text());
  if (b < 0 || b >= int64_t(crcs_.size()))
    return InvalidArgument(path_ + ": block " + std::to_string(b) + " is past the end");
  const int64_t start = b * block_bytes_, n = std::min(block_bytes_, bytes_ - start);
  std::vector<char> data(static_cast<size_t>(n));
  int64_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd_, data.data() + got, size_t(n - got), start + got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      return InvalidArgument(path_ + ": block " + std::to_string(b) + " (bytes " +
                             std::to_string(start) + ".." + std::to_string(start + n) +
                             "): short read, the file is truncated");
    }
    got += r;
  }
  bytes_read_ += n;
  const uint32_t crc = crc32_update(0, data.data(), data.size());
  if (crc != crcs_[size_t(b)]) {
    return InvalidArgument(path_ + ": block " + std::to_string(b) + " (bytes " +
                           std::to_string(start) + ".." + std::to_string(start + n) +
                           "): checksum mismatch, CRC-32 " + std::to_string(crc) +
                           " but the shard index field \"block_crc32[" + std::to_string(b) +
                           "]\" says " + std::to_string(crcs_[size_t(b)]) + " (corrupt shard)");
  }
  cache_.emplace_front(b, std::move(data));
  if (cache_.size() > kCachedBlocks) cache_.pop_back();
  return &cache_.front().second;
}

Status BlockReader::read(int64_t offset, int64_t bytes, void* out) {
  if (offset < 0 || bytes < 0 || offset > bytes_ || bytes > bytes_ - offset) {
    return InvalidArgument(path_ + ": read of bytes " + std::to_string(offset) + ".." +
                           std::to_string(offset + bytes) + " is outside the file (" +
                           std::to_string(bytes_) + " bytes)");
  }
  char* dst = static_cast<char*>(out);
  while (bytes > 0) {
    const int64_t b = offset / block_bytes_, in = offset - b * block_bytes_;
    PARATUNE_ASSIGN_OR_RETURN(const std::vector<char>* blk, block(b));
    const int64_t n = std::min(bytes, int64_t(blk->size()) - in);
    std::memcpy(dst, blk->data() + in, size_t(n));
    dst += n;
    offset += n;
    bytes -= n;
  }
  return Status::Ok();
}

Status BlockReader::verify_all() {
  for (int64_t b = 0; b < int64_t(crcs_.size()); ++b) {
    auto blk = block(b);
    if (!blk.ok()) return blk.status();
  }
  return Status::Ok();
}

}  // namespace paratune
