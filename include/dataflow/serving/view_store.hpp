// Versions of named batch views in a directory: `ROOT/NAME/v-<version>.view` files (view_file.hpp).
//
// Publishing writes the next version aside and renames it into place (then syncs the directory),
// so a reader opens a whole version or an older one, never half of one. Versions past the newest
// `keep` are removed at once: a reader that opened one keeps reading it through its descriptor
// (the file system frees it when the last reader closes), so readers of an old version finish on
// it. One publisher per view at a time (a lock file); readers need none.
#pragma once

#include <dataflow/dataflow.hpp>
#include <dataflow/serving/view_file.hpp>
#include <dataflow/storage/files.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dataflow {

class view_store {
 public:
  /// Opens (making it when missing) the directory `root`; `keep` versions of each view stay.
  explicit view_store(std::string root, std::size_t keep = 2) : root_(std::move(root)), keep_(std::max<std::size_t>(keep, 1)) {
    make_dir(root_);
  }

  const std::string& root() const noexcept { return root_; }

  /// The versions of `name` on disk, oldest first.
  std::vector<std::uint64_t> versions(const std::string& name) const {
    std::vector<std::uint64_t> out;
    for (const std::string& n : detail::directory_names(dir_of(name))) {
      if (n.size() != 2 + 12 + 5 || n.rfind("v-", 0) != 0 || n.substr(14) != ".view") continue;
      std::uint64_t v = 0;
      bool digits = true;
      for (char c : n.substr(2, 12)) {
        digits = digits && c >= '0' && c <= '9';
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (digits) out.push_back(v);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  /// The path of version `v` of `name`.
  std::string path_of(const std::string& name, std::uint64_t v) const {
    char file[32];
    std::snprintf(file, sizeof file, "v-%012llu.view", static_cast<unsigned long long>(v));
    return dir_of(name) + "/" + file;
  }

  /// The newest version of `name`, opened; null when there is none. A damaged file is an
  /// io_error naming it.
  template <class K, class V>
  std::shared_ptr<const view_reader<K, V>> open_latest(const std::string& name) const {
    for (int attempt = 0;; ++attempt) {
      const auto vs = versions(name);
      if (vs.empty()) return nullptr;
      try {
        return std::make_shared<const view_reader<K, V>>(path_of(name, vs.back()));
      } catch (const io_error&) {
        // Removed between the listing and the open by a publish of a newer one: open that.
        const auto now = versions(name);
        if (attempt >= 8 || now.empty() || now.back() == vs.back()) throw;
      }
    }
  }

  /// Publishes the next version of `name`: fill(view_writer<K, V>&) adds its pairs in key
  /// order. Returns the new version's stamp.
  template <class K, class V, class Fill>
  view_stamp publish(const std::string& name, std::string covers, std::uint64_t cutoff, Fill&& fill) {
    return publish<K, V>(name, std::move(covers), speed_mark{cutoff, {}}, std::forward<Fill>(fill));
  }

  /// The same, the view covering a serving view's speed layer up to `mark`.
  template <class K, class V, class Fill>
  view_stamp publish(const std::string& name, std::string covers, const speed_mark& mark, Fill&& fill) {
    check_name(name);
    const std::string dir = dir_of(name);
    make_dir(dir);
    detail::file_handle lock(::open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (lock.get() < 0 || ::flock(lock.get(), LOCK_EX) != 0) {
      const int e = errno;
      throw io_error(dir, "dataflow::view_store: cannot lock '" + dir + "/lock': " + detail::errno_text(e));
    }
    const auto vs = versions(name);
    view_stamp stamp;
    stamp.version = vs.empty() ? 1 : vs.back() + 1;
    stamp.covers = std::move(covers);
    stamp.cutoff = mark.sequence;
    stamp.position = mark.position;
    stamp.written_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    {
      view_writer<K, V> w(path_of(name, stamp.version));
      fill(w);
      w.finish(stamp);
    }
    detail::sync_path(dir, "dataflow::view_store");
    // Older versions go; their readers keep them open until they are done.
    auto all = versions(name);
    while (all.size() > keep_) {
      ::unlink(path_of(name, all.front()).c_str());
      all.erase(all.begin());
    }
    return stamp;
  }

 private:
  std::string dir_of(const std::string& name) const { return root_ + "/" + name; }

  static void check_name(const std::string& name) {
    const bool ok = !name.empty() && name[0] != '.' &&
                    std::all_of(name.begin(), name.end(), [](char c) {
                      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                             c == '-' || c == '.';
                    });
    if (!ok) {
      throw usage_error("dataflow::view_store: '" + name + "' is not a view name (letters, digits, '_', '-', '.')");
    }
  }

  static void make_dir(const std::string& dir) {
    int error = 0;
    detail::make_directories(dir, error);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw io_error(dir, "dataflow::view_store: cannot make the directory '" + dir + "'" +
                              (error ? ": " + detail::errno_text(error) : std::string()));
    }
  }


  std::string root_;
  std::size_t keep_;
};

namespace detail {

/// A (key, value) pair as a length-prefixed record, for the sorted pass of write_view.
template <class K, class V>
struct view_record_format {
  static constexpr const char* op = "write_view";
  void header(fmt::memory_buffer&) const {}
  void append(fmt::memory_buffer& text, const std::pair<K, V>& item, const std::string&) const {
    thread_local std::vector<char> buf;
    buf.clear();
    byte_writer w(buf);
    encode(w, item.first);
    encode(w, item.second);
    const auto n = static_cast<std::uint32_t>(buf.size());
    text.append(reinterpret_cast<const char*>(&n), reinterpret_cast<const char*>(&n) + 4);
    text.append(buf.data(), buf.data() + buf.size());
  }
};

}  // namespace detail

/// Publishes the pairs of `ds` (one per key: reduce first) as the next version of the view `name`
/// in `store`, sorted by key under the context's memory budget (the sort spills) and written a
/// block at a time, so a view larger than memory is fine. Returns its stamp.
template <class Dataset>
view_stamp write_view(const Dataset& ds, view_store& store, const std::string& name, std::string covers,
                      std::uint64_t cutoff = 0) {
  return write_view(ds, store, name, std::move(covers), speed_mark{cutoff, {}});
}

/// The same, the view covering a serving view's speed layer up to `mark` (lambda_job).
template <class Dataset>
view_stamp write_view(const Dataset& ds, view_store& store, const std::string& name, std::string covers,
                      const speed_mark& mark) {
  using P = typename Dataset::stored_type;
  using K = std::remove_cvref_t<decltype(std::declval<P>().first)>;
  using V = std::remove_cvref_t<decltype(std::declval<P>().second)>;
  // The pairs in key order, as records in a file beside the view's versions.
  const std::string sorted = store.root() + "/.sorted-" + name + "-" + detail::random_name_part();
  // Removed when done, or by the signal handlers (remove_temporaries_on_signals) on the way.
  struct remove_at_exit {
    const std::string& path;
    int slot = detail::temp_registry::instance().add(path);
    ~remove_at_exit() {
      ::unlink(path.c_str());
      detail::temp_registry::instance().remove(slot);
    }
  } cleanup{sorted};
  auto by_key = ds.map([](const auto& p) { return std::pair<K, V>(p.first, p.second); })
                    .sort_by([](const std::pair<K, V>& p) { return p.first; });
  detail::write_formatted(by_key, sorted, write_options{}, detail::view_record_format<K, V>{});
  return store.publish<K, V>(name, std::move(covers), mark, [&](view_writer<K, V>& w) {
    detail::file_handle fd = detail::open_for_reading(sorted, "write_view");
    std::vector<char> buf(1 << 20);
    std::size_t have = 0;
    std::uint64_t at = 0;
    detail::arena scratch;
    std::optional<K> last;
    for (;;) {
      const std::size_t got = detail::read_at(fd.get(), buf.data() + have, buf.size() - have, at, sorted, "write_view");
      at += got;
      have += got;
      std::size_t pos = 0;
      while (have - pos >= 4) {
        std::uint32_t n = 0;
        std::memcpy(&n, buf.data() + pos, 4);
        if (have - pos - 4 < n) {
          if (pos == 0 && 4 + std::size_t{n} > buf.size()) buf.resize(4 + std::size_t{n});  // a large record
          break;
        }
        byte_reader r(buf.data() + pos + 4, buf.data() + pos + 4 + n, scratch);
        K k = decode<K>(r);
        V v = decode<V>(r);
        if (last && !(*last < k)) {
          throw usage_error("dataflow::write_view: '" + name + "': a key appears more than once; reduce the pairs by key first");
        }
        w.add(k, v);
        last = std::move(k);
        pos += 4 + n;
      }
      std::memmove(buf.data(), buf.data() + pos, have - pos);
      have -= pos;
      if (got == 0) break;
    }
    if (have != 0) throw io_error(sorted, "dataflow::write_view: '" + sorted + "' ends inside a record");
  });
}

}  // namespace dataflow
