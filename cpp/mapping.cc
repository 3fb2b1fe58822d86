#include "mapping.h"

#include "sigbus.h"

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace evolver {

std::string ErrnoName(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EISDIR: return "EISDIR";
    case ENOSPC: return "ENOSPC";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EROFS: return "EROFS";
    case EDQUOT: return "EDQUOT";
    case EFBIG: return "EFBIG";
    case EIO: return "EIO";
    case EPERM: return "EPERM";
    case ENOTDIR: return "ENOTDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EXDEV: return "EXDEV";
    case EBUSY: return "EBUSY";
    case ENOSYS: return "ENOSYS";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EAGAIN: return "EAGAIN";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return "E" + std::to_string(e);
  }
}

static bool Fail(MapError* err, int e, const std::string& what, const std::string& path) {
  err->code = ErrnoName(e);
  err->message = what + " " + path + ": " + std::strerror(e);
  return false;
}

bool Mapping::OpenReadOnly(const std::string& path, Mapping* out, MapError* err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(err, errno, "cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Fail(err, e, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Fail(err, S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "not a regular file:", path);
  }
  out->path_ = path;
  out->fd_ = fd;
  out->size_ = static_cast<uint64_t>(st.st_size);
  out->writable_ = false;
  if (out->size_ > 0) {
    // MAP_PRIVATE + PROT_WRITE over an O_RDONLY descriptor: clean pages are the page cache
    // itself (zero copy), and a stray write from JS lands in a private copy instead of
    // faulting or reaching the file.
    void* p = ::mmap(nullptr, out->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      out->fd_ = -1;
      return Fail(err, e, "cannot map", path);
    }
    out->base_ = static_cast<uint8_t*>(p);
    if (!out->Protect(err)) {
      out->Unmap();
      return false;
    }
  }
  out->open_ = true;
  return true;
}

bool Mapping::Create(const std::string& path, uint64_t size, Space space, Mapping* out, MapError* err) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(err, errno, "cannot create", path);
  auto undo = [&](int e, const char* what) {
    ::close(fd);
    out->fd_ = -1;  // never closed twice (the descriptor number may be reused meanwhile)
    ::unlink(path.c_str());
    return Fail(err, e, what, path);
  };
  // Writing through a mapping onto a full disk is a SIGBUS, so a lack of space must surface
  // here as ENOSPC. kCheck compares with the free space (fast; a disk filled by someone else
  // meanwhile is not covered); kReserve allocates the blocks (a guarantee, but first writes
  // into reserved blocks are much slower on ext4: unwritten extents are converted page by page).
  if (space == Space::kCheck && size > 0) {
    struct statvfs vfs;
    if (::fstatvfs(fd, &vfs) == 0 && static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize < size) return undo(ENOSPC, "not enough free space for");
  }
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return undo(errno, "cannot size");
  if (space == Space::kReserve && size > 0) {
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (rc != 0) return undo(rc, "cannot allocate space for");
  }
  const int rc = out->MapSharedWritable(fd, path, size, err);
  if (rc > 0) return undo(rc, "cannot map");
  if (rc < 0) {
    MapError keep = *err;  // the registry's error, not undo's
    undo(EMFILE, "cannot map");
    *err = keep;
    return false;
  }
  return true;
}

bool Mapping::Anonymous(uint64_t size, Mapping* out, MapError* err) {
  out->path_ = "(native memory)";
  out->size_ = size;
  out->writable_ = true;
  out->anonymous_ = true;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return Fail(err, errno, "cannot allocate", std::to_string(size) + " bytes");
    out->base_ = static_cast<uint8_t*>(p);
  }
  out->open_ = true;
  return true;
}

bool Mapping::Memory(uint64_t size, const std::string& label, Mapping* out, MapError* err) {
  int fd = ::memfd_create(label.empty() ? "evolver-memory" : label.c_str(), MFD_CLOEXEC);
  if (fd < 0) return Fail(err, errno, "cannot create a memory file for", label);
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto undo = [&](int e, const char* what) {
    ::close(fd);
    out->fd_ = -1;
    return Fail(err, e, what, label + " (" + std::to_string(size) + " bytes in memory)");
  };
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return undo(errno, "cannot size");
  const int rc = out->MapSharedWritable(fd, path, size, err);
  if (rc > 0) return undo(rc, "cannot map");
  if (rc < 0) {
    MapError keep = *err;  // the registry's error, not undo's
    undo(EMFILE, "cannot map");
    *err = keep;
    return false;
  }
  return true;
}

int Mapping::MapSharedWritable(int fd, const std::string& path, uint64_t size, MapError* err) {
  path_ = path;
  fd_ = fd;
  size_ = size;
  writable_ = true;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return errno;
    base_ = static_cast<uint8_t*>(p);
    if (!Protect(err)) {
      ::munmap(p, size);
      base_ = nullptr;
      return -1;
    }
  }
  open_ = true;
  return 0;
}

// Puts the mapping in the SIGBUS registry (sigbus.h); a process with 65536 mappings open fails here.
bool Mapping::Protect(MapError* err) {
  sigbus::Install();
  slot_ = sigbus::Register(base_, size_);
  if (slot_ >= 0) return true;
  err->code = "EMFILE";
  err->message = "cannot map " + path_ + ": " + std::to_string(sigbus::kSlots) + " mapped files are open already";
  return false;
}

bool Mapping::faulted() const { return faulted_latched_ || (slot_ >= 0 && sigbus::Faulted(slot_)); }

MapError Mapping::FaultError() const {
  struct stat st;
  const bool known = fd_ >= 0 ? ::fstat(fd_, &st) == 0 : ::stat(path_.c_str(), &st) == 0;
  const uint64_t now = known ? static_cast<uint64_t>(st.st_size) : 0;
  MapError e;
  if (known && now < size_) {
    e.code = "FILE_CHANGED";
    e.defect = "changed while it was mapped: it was " + std::to_string(size_) + " bytes and is now " + std::to_string(now) +
               " (truncated by another process?); the missing part read as zeros, so nothing computed from it is valid";
  } else if (writable_) {
    e.code = "NO_SPACE";
    e.defect = "the disk filled up while it was written through its mapping (a page could not be allocated); the file is incomplete";
  } else {
    e.code = "FILE_CHANGED";
    e.defect = "a page could not be read while it was mapped (the file was truncated or rewritten by another process, or an I/O error); "
               "it read as zeros, so nothing computed from it is valid";
  }
  e.message = display() + (label_.empty() ? "" : " (temporary file " + path_ + ")") + ": " + e.defect;
  return e;
}

bool Mapping::Advise(const std::string& hint, uint64_t offset, uint64_t length, MapError* err) {
  if (!open_ || base_ == nullptr || length == 0) return true;
  int advice;
  if (hint == "normal") advice = MADV_NORMAL;
  else if (hint == "sequential") advice = MADV_SEQUENTIAL;
  else if (hint == "random") advice = MADV_RANDOM;
  else if (hint == "willneed") advice = MADV_WILLNEED;
  else if (hint == "dontneed") advice = MADV_DONTNEED;
  else if (hint == "populate") advice = writable_ ? 23 /* MADV_POPULATE_WRITE */ : 22 /* MADV_POPULATE_READ */;
  else {
    err->code = "EINVAL";
    err->message = "unknown madvise hint '" + hint + "'";
    return false;
  }
  // madvise wants a page-aligned start.
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t start = offset - offset % page;
  // MADV_DONTNEED on a private mapping would drop private (written) pages; only allow it
  // where it means "reload from file later", which is the read-only case anyway.
  if (::madvise(base_ + start, length + (offset - start), advice) != 0) {
    if (hint == "populate" && (errno == EINVAL || errno == ENOSYS)) return true;  // kernels before 5.14: just fault lazily
    // Populating a page that cannot be backed fails (no signal): the file shrank or the disk is full.
    if (hint == "populate" && errno == EFAULT) {
      *err = FaultError();
      return false;
    }
    return Fail(err, errno, "madvise failed on", path_);
  }
  return true;
}

bool Mapping::Flush(MapError* err) {
  if (!open_ || !writable_ || anonymous_) return true;
  // A faulted page was never written to the file: the file must not be published.
  if (faulted()) {
    *err = FaultError();
    return false;
  }
  if (base_ != nullptr && ::msync(base_, size_, MS_SYNC) != 0) return Fail(err, errno, "msync failed on", path_);
  if (::fsync(fd_) != 0) return Fail(err, errno, "fsync failed on", path_);
  if (faulted()) {
    *err = FaultError();
    return false;
  }
  return true;
}

void Mapping::Close() {
  open_ = false;
  if (pins_ == 0) Unmap();
}

void Mapping::Unmap() {
  if (slot_ >= 0) {
    if (sigbus::Unregister(slot_)) faulted_latched_ = true;
    slot_ = -1;
  }
  if (base_ != nullptr) ::munmap(base_, size_);
  if (fd_ >= 0) ::close(fd_);
  base_ = nullptr;
  fd_ = -1;
  open_ = false;
}

namespace {
std::mutex registry_mutex;
std::map<const uint8_t*, std::weak_ptr<Mapping>>& Registry() {
  static auto* r = new std::map<const uint8_t*, std::weak_ptr<Mapping>>();
  return *r;
}
}  // namespace

void RegisterMapping(const std::shared_ptr<Mapping>& m) {
  if (m->base() == nullptr) return;
  std::lock_guard<std::mutex> lock(registry_mutex);
  auto& r = Registry();
  for (auto it = r.begin(); it != r.end();) it = it->second.expired() ? r.erase(it) : std::next(it);
  r[m->base()] = m;
}

std::shared_ptr<Mapping> FindMapping(const void* p, uint64_t length) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  auto& r = Registry();
  auto it = r.upper_bound(static_cast<const uint8_t*>(p));
  if (it == r.begin()) return nullptr;
  --it;
  std::shared_ptr<Mapping> m = it->second.lock();
  return m && m->Contains(p, length) ? m : nullptr;
}

}  // namespace evolver
