// Text helpers for pipelines over lines: splitting into words without copying.
#pragma once

#include <cstddef>
#include <iterator>
#include <string_view>

namespace dataflow {

/// True for the bytes C's isspace accepts in the "C" locale: ' ', '\t', '\n', '\v', '\f', '\r'.
constexpr bool is_space(char c) noexcept {
  return c == ' ' || static_cast<unsigned>(static_cast<unsigned char>(c)) - 9u < 5u;
}

/// The words of a string as a lazy range of string_views; a word is a maximal run of
/// non-whitespace bytes. Nothing is allocated; the views point into the string.
class word_range {
 public:
  class iterator {
   public:
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;

    iterator() = default;
    iterator(const char* p, const char* end) : end_(end) { find(p); }
    std::string_view operator*() const noexcept { return {begin_, len_}; }
    iterator& operator++() noexcept {
      find(begin_ + len_);
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator& o) const noexcept { return begin_ == o.begin_; }

   private:
    void find(const char* p) noexcept {
      while (p != end_ && is_space(*p)) ++p;
      const char* q = p;
      while (q != end_ && !is_space(*q)) ++q;
      begin_ = p == end_ ? nullptr : p;
      len_ = static_cast<std::size_t>(q - p);
    }
    const char* begin_ = nullptr;  // null at the end
    std::size_t len_ = 0;
    const char* end_ = nullptr;
  };

  explicit word_range(std::string_view s) noexcept : s_(s) {}
  iterator begin() const noexcept { return iterator(s_.data(), s_.data() + s_.size()); }
  iterator end() const noexcept { return iterator(); }

 private:
  std::string_view s_;
};

/// Splits a line into words: `lines.flat_map(dataflow::split_words)`.
inline constexpr struct split_words_fn {
  word_range operator()(std::string_view s) const noexcept { return word_range(s); }
} split_words{};

}  // namespace dataflow
