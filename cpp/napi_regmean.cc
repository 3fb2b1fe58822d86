// RegMean's linear algebra (Jin et al. 2023), with Eigen, off the JS thread. For one linear
// layer y = x W (W as [in, out]) and models i with Gram matrices G_i = X_i^T X_i of the layer's
// inputs, the merged weight is W* = (sum_i G~_i)^-1 sum_i G~_i W_i, where
// G~ = alpha G + (1 - alpha) diag(G) shrinks the off-diagonal part (alpha = 1: plain RegMean).
//
//   regmeanFactor({ grams: Float32Array[], alpha, dim, factor: Float64Array })
//     -> Promise<{ zeroRows: number[] }>
//       S = sum_i G~_i in double, summed in the order given; an input feature whose diagonal is 0
//       in every Gram never reached the layer (its rows and columns are 0 too): its pivot is set
//       to 1 and its row of W* is the plain average (regmeanSolve's fallback). Then the Cholesky
//       factor L of S (row-major, lower triangle) is written to `factor`. S not positive
//       definite (e.g. alpha = 1 with fewer rows than features) is an ENOTPD error; a Gram that is
//       not finite or not symmetric, ENONFINITE / ENOTSYM.
//   regmeanTerm({ gram: Float32Array, alpha, weight: Float32Array, layout, dim, cols, term: Float64Array })
//       term = G~ W in double (W read as [in, out]: layout 'out_in' means the tensor is [out, in]).
//   regmeanSolve({ factor, terms: Float64Array[], zeroRows, fallback: Float32Array, layout, dim, cols, out: Float32Array })
//     -> Promise<{ residual }>
//       R = sum of the terms in the order given, rows in zeroRows taken from `fallback` (which may
//       be an empty array when zeroRows is empty); solves
//       L L^T X = R and writes X (rounded to float32, in the tensor's layout) to `out`. The
//       relative residual ||L L^T X - R|| / ||R|| of the solve (in double, before rounding X) is
//       returned: a check that the triangular solves held; accuracy is guarded by the
//       conditioning check of regmeanFactor. A non-finite result is ENUMERIC.
//   gramAccumulate({ x: Float32Array, rows, cols, gram: Float64Array }) -> Promise<void>
//       gram += x^T x (x row-major [rows, cols], in double; the whole symmetric matrix is written):
//       the statistics `evolver stats regmean` collects. A non-finite x is ENONFINITE (gram untouched),
//       its message naming the element, row and column.
// Eigen's reductions are single-threaded here, so for a given build the bits do not depend on
// the thread pool's size.
#include <napi.h>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "buffer_arg.h"
#include "napi_exports.h"

namespace evolver {
namespace {

using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapD = Eigen::Map<MatD>;
using MapF = Eigen::Map<MatF>;

// Runs `work` on the pool of libuv; settles with `result` (built on the JS thread) or the error.
class LinalgWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<std::string()>;  // returns "" or "CODE: message"
  using Result = std::function<Napi::Value(Napi::Env)>;
  LinalgWorker(Napi::Env env, std::vector<BufferArg> buffers, Work work, Result result)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), buffers_(std::move(buffers)), work_(std::move(work)), result_(std::move(result)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      error_ = work_();
    } catch (const std::exception& e) {
      error_ = std::string("ENOMEM: ") + e.what();
    }
    if (!error_.empty()) SetError(error_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Error error;
    bool ok = true;
    for (auto& b : buffers_) ok = ok && b.Check(env, &error);
    if (ok) for (auto& b : buffers_) b.CopyBack();
    for (auto& b : buffers_) b.Release();
    if (!ok) return deferred_.Reject(error.Value());
    deferred_.Resolve(result_(env));
  }
  void OnError(const Napi::Error&) override {
    for (auto& b : buffers_) b.Release();
    const size_t colon = error_.find(": ");
    deferred_.Reject(CodedError(Env(), error_.substr(0, colon), error_.substr(colon + 2)).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<BufferArg> buffers_;
  Work work_;
  Result result_;
  std::string error_;
};

// Below this reciprocal condition number of the Jacobi-scaled sum, float32 rounding of the Grams
// (relative 6e-8) could change W* by several percent: it is not determined by the statistics.
constexpr double kMinRcond = 1e-6;

// Queues `work` on a LinalgWorker and returns its promise (resolving to `result`, default undefined).
Napi::Value Queue(Napi::Env env, std::vector<BufferArg> buffers, LinalgWorker::Work work,
                  LinalgWorker::Result result = [](Napi::Env e) -> Napi::Value { return e.Undefined(); }) {
  auto* w = new LinalgWorker(env, std::move(buffers), std::move(work), std::move(result));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

uint64_t Count(Napi::Env env, Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 0;
  EVOLVER_GUARD(env, d >= 1 && d < 9.0e15 && d == std::floor(d), "EINVAL", std::string(key) + " must be a positive integer");
  return static_cast<uint64_t>(d);
}

double Alpha(Napi::Env env, Napi::Object o) {
  const double a = o.Get("alpha").ToNumber().DoubleValue();
  EVOLVER_GUARD(env, a >= 0 && a <= 1, "EINVAL", "alpha must be in [0, 1]");
  return a;
}

bool OutIn(Napi::Env env, Napi::Object o) {
  const std::string layout = o.Get("layout").ToString().Utf8Value();
  EVOLVER_GUARD(env, layout == "in_out" || layout == "out_in", "EINVAL", "layout must be 'in_out' or 'out_in'");
  return layout == "out_in";
}

BufferArg Sized(Napi::Env env, Napi::Value v, const std::string& name, uint64_t bytes, BufferArg::Use use = BufferArg::Use::kRead) {
  BufferArg b = BufferArg::From(env, v, name, use, bytes);
  EVOLVER_GUARD(env, b.length() == bytes, "ERANGE", name + ": expected " + std::to_string(bytes) + " bytes, got " + std::to_string(b.length()));
  return b;
}

// G~ = alpha G + (1 - alpha) diag(G), added into `sum` (in double).
void AddShrunk(MapD& sum, const float* g, uint64_t dim, double alpha) {
  for (uint64_t r = 0; r < dim; ++r) {
    for (uint64_t c = 0; c < dim; ++c) {
      const double v = g[r * dim + c];
      sum(r, c) += r == c ? v : alpha * v;
    }
  }
}

// A Gram matrix is symmetric; rounding may make g[r][c] and g[c][r] differ by a few ulps of the
// Cauchy-Schwarz bound sqrt(g[r][r] g[c][c]), not more.
std::string Symmetric(const float* g, uint64_t dim, const std::string& name) {
  for (uint64_t r = 0; r < dim; ++r) {
    for (uint64_t c = r + 1; c < dim; ++c) {
      const double a = g[r * dim + c], b = g[c * dim + r];
      const double bound = std::sqrt(std::fabs(static_cast<double>(g[r * dim + r])) * std::fabs(static_cast<double>(g[c * dim + c])));
      if (std::fabs(a - b) > 1e-5 * bound + 1e-30) {
        return "ENOTSYM: " + name + " is not symmetric (element [" + std::to_string(r) + ", " + std::to_string(c) + "] = " + std::to_string(a) + ", [" +
               std::to_string(c) + ", " + std::to_string(r) + "] = " + std::to_string(b) + "): not a Gram matrix";
      }
    }
  }
  return "";
}

std::string Finite(const float* p, uint64_t n, const std::string& name) {
  for (uint64_t i = 0; i < n; ++i) {
    if (!std::isfinite(p[i])) return "ENONFINITE: " + name + " holds a non-finite value at element " + std::to_string(i);
  }
  return "";
}

Napi::Value RegmeanFactor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsObject(), "EINVAL", "regmeanFactor(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  const uint64_t dim = Count(env, o, "dim");
  const double alpha = Alpha(env, o);
  Napi::Value gv = o.Get("grams");
  EVOLVER_GUARD(env, gv.IsArray() && gv.As<Napi::Array>().Length() >= 1, "EINVAL", "grams must be a non-empty array");
  Napi::Array ga = gv.As<Napi::Array>();
  std::vector<BufferArg> buffers;
  const uint32_t n = ga.Length();
  for (uint32_t i = 0; i < n; ++i) buffers.push_back(Sized(env, ga.Get(i), "grams[" + std::to_string(i) + "]", dim * dim * 4));
  buffers.push_back(Sized(env, o.Get("factor"), "factor", dim * dim * 8, BufferArg::Use::kOverwrite));
  auto zero = std::make_shared<std::vector<uint64_t>>();
  std::vector<uint8_t*> grams;
  for (uint32_t i = 0; i < n; ++i) grams.push_back(buffers[i].data());
  uint8_t* factor = buffers.back().data();
  auto work = [=]() -> std::string {
    MapD s(reinterpret_cast<double*>(factor), static_cast<Eigen::Index>(dim), static_cast<Eigen::Index>(dim));
    s.setZero();
    for (uint32_t i = 0; i < n; ++i) {
      const float* g = reinterpret_cast<const float*>(grams[i]);
      std::string bad = Finite(g, dim * dim, "grams[" + std::to_string(i) + "]");
      if (bad.empty()) bad = Symmetric(g, dim, "grams[" + std::to_string(i) + "]");
      if (!bad.empty()) return bad;
      AddShrunk(s, g, dim, alpha);
    }
    for (uint64_t r = 0; r < dim; ++r) {
      if (s(r, r) == 0) {
        zero->push_back(r);
        s.row(r).setZero();
        s.col(r).setZero();
        s(r, r) = 1;
      }
    }
    // Factor the Jacobi-scaled S~ = D^-1 S D^-1 (unit diagonal, D = sqrt(diag S)): its
    // conditioning is what limits W*'s accuracy feature by feature, whatever the features'
    // scales. A singular S can still factor with tiny positive pivots (the Grams carry float32
    // rounding), and the solve then amplifies that noise along its null space: refuse it by the
    // reciprocal condition number. Then S = (D L~)(D L~)^T.
    const Eigen::VectorXd d = s.diagonal().cwiseSqrt();
    const Eigen::VectorXd inv = d.cwiseInverse();
    MatD scaled = inv.asDiagonal() * s * inv.asDiagonal();
    Eigen::LLT<MatD> llt(scaled);
    if (llt.info() != Eigen::Success || !(llt.rcond() > kMinRcond)) {
      return "ENOTPD: the summed Gram matrix is not positive definite, or is numerically singular (with alpha = 1 this happens when a layer saw fewer input rows than it has "
             "features, or features that always move together; lower alpha, e.g. 0.9, or compute the statistics on more data)";
    }
    s = d.asDiagonal() * MatD(llt.matrixL());
    return "";
  };
  auto result = [zero](Napi::Env e) -> Napi::Value {
    Napi::Object r = Napi::Object::New(e);
    Napi::Array z = Napi::Array::New(e, zero->size());
    for (size_t i = 0; i < zero->size(); ++i) z.Set(static_cast<uint32_t>(i), Napi::Number::New(e, static_cast<double>((*zero)[i])));
    r.Set("zeroRows", z);
    return r;
  };
  return Queue(env, std::move(buffers), work, result);
}

Napi::Value RegmeanTerm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsObject(), "EINVAL", "regmeanTerm(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  const uint64_t dim = Count(env, o, "dim"), cols = Count(env, o, "cols");
  const double alpha = Alpha(env, o);
  const bool out_in = OutIn(env, o);
  std::vector<BufferArg> buffers;
  buffers.push_back(Sized(env, o.Get("gram"), "gram", dim * dim * 4));
  buffers.push_back(Sized(env, o.Get("weight"), "weight", dim * cols * 4));
  buffers.push_back(Sized(env, o.Get("term"), "term", dim * cols * 8, BufferArg::Use::kOverwrite));
  const float* gram = reinterpret_cast<const float*>(buffers[0].data());
  const float* weight = reinterpret_cast<const float*>(buffers[1].data());
  double* term = reinterpret_cast<double*>(buffers[2].data());
  auto work = [=]() -> std::string {
    std::string bad = Finite(gram, dim * dim, "gram");
    if (bad.empty()) bad = Finite(weight, dim * cols, "weight");
    if (!bad.empty()) return bad;
    MatD g = MatD::Zero(static_cast<Eigen::Index>(dim), static_cast<Eigen::Index>(dim));
    MapD gm(g.data(), g.rows(), g.cols());
    AddShrunk(gm, gram, dim, alpha);
    MatD wd;
    if (out_in) wd = Eigen::Map<const MatF>(weight, static_cast<Eigen::Index>(cols), static_cast<Eigen::Index>(dim)).cast<double>().transpose();
    else wd = Eigen::Map<const MatF>(weight, static_cast<Eigen::Index>(dim), static_cast<Eigen::Index>(cols)).cast<double>();
    MapD(term, static_cast<Eigen::Index>(dim), static_cast<Eigen::Index>(cols)).noalias() = g * wd;
    return "";
  };
  return Queue(env, std::move(buffers), work);
}

Napi::Value RegmeanSolve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsObject(), "EINVAL", "regmeanSolve(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  const uint64_t dim = Count(env, o, "dim"), cols = Count(env, o, "cols");
  const bool out_in = OutIn(env, o);
  Napi::Value tv = o.Get("terms"), zv = o.Get("zeroRows");
  EVOLVER_GUARD(env, tv.IsArray() && tv.As<Napi::Array>().Length() >= 1, "EINVAL", "terms must be a non-empty array");
  EVOLVER_GUARD(env, zv.IsArray(), "EINVAL", "zeroRows must be an array");
  Napi::Array ta = tv.As<Napi::Array>(), za = zv.As<Napi::Array>();
  std::vector<uint64_t> zero;
  for (uint32_t i = 0; i < za.Length(); ++i) {
    const double r = za.Get(i).ToNumber().DoubleValue();
    EVOLVER_GUARD(env, r >= 0 && r < static_cast<double>(dim) && r == std::floor(r), "ERANGE", "zeroRows holds a row outside the matrix");
    zero.push_back(static_cast<uint64_t>(r));
  }
  std::vector<BufferArg> buffers;
  buffers.push_back(Sized(env, o.Get("factor"), "factor", dim * dim * 8));
  // The fallback is read only for zero rows: without any, it may be an empty array.
  {
    BufferArg f = BufferArg::From(env, o.Get("fallback"), "fallback");
    EVOLVER_GUARD(env, f.length() == dim * cols * 4 || (zero.empty() && f.length() == 0), "ERANGE",
                  "fallback: expected " + std::to_string(dim * cols * 4) + " bytes (or none when zeroRows is empty), got " + std::to_string(f.length()));
    buffers.push_back(std::move(f));
  }
  buffers.push_back(Sized(env, o.Get("out"), "out", dim * cols * 4, BufferArg::Use::kOverwrite));
  const uint32_t n = ta.Length();
  for (uint32_t i = 0; i < n; ++i) buffers.push_back(Sized(env, ta.Get(i), "terms[" + std::to_string(i) + "]", dim * cols * 8));
  const double* factor = reinterpret_cast<const double*>(buffers[0].data());
  const float* fallback = reinterpret_cast<const float*>(buffers[1].data());
  float* out = reinterpret_cast<float*>(buffers[2].data());
  std::vector<const double*> terms;
  for (uint32_t i = 0; i < n; ++i) terms.push_back(reinterpret_cast<const double*>(buffers[3 + i].data()));
  auto residual = std::make_shared<double>(0);
  auto work = [=]() -> std::string {
    const auto d = static_cast<Eigen::Index>(dim), c = static_cast<Eigen::Index>(cols);
    MatD r = MatD::Zero(d, c);
    for (const double* t : terms) r += Eigen::Map<const MatD>(t, d, c);
    for (uint64_t z : zero) {
      for (uint64_t j = 0; j < cols; ++j) r(static_cast<Eigen::Index>(z), static_cast<Eigen::Index>(j)) = out_in ? fallback[j * dim + z] : fallback[z * cols + j];
    }
    Eigen::Map<const MatD> lfull(factor, d, d);
    const auto l = lfull.triangularView<Eigen::Lower>();
    MatD x = l.solve(r);
    l.transpose().solveInPlace(x);
    MatD back = l.transpose() * x;
    back = l * back;
    const double norm = r.norm();
    *residual = (back - r).norm() / (norm > 0 ? norm : 1.0);
    if (!x.allFinite() || !std::isfinite(*residual)) return "ENUMERIC: the solve produced non-finite values (the summed Gram matrix is too ill-conditioned; lower alpha)";
    if (out_in) Eigen::Map<MatF>(out, c, d) = x.transpose().cast<float>();
    else Eigen::Map<MatF>(out, d, c) = x.cast<float>();
    return "";
  };
  auto result = [residual](Napi::Env e) -> Napi::Value {
    Napi::Object r = Napi::Object::New(e);
    r.Set("residual", *residual);
    return r;
  };
  return Queue(env, std::move(buffers), work, result);
}

Napi::Value GramAccumulate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsObject(), "EINVAL", "gramAccumulate(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  const uint64_t rows = Count(env, o, "rows"), cols = Count(env, o, "cols");
  std::vector<BufferArg> buffers;
  buffers.push_back(Sized(env, o.Get("x"), "x", rows * cols * 4));
  buffers.push_back(Sized(env, o.Get("gram"), "gram", cols * cols * 8, BufferArg::Use::kWrite));
  const float* x = reinterpret_cast<const float*>(buffers[0].data());
  double* gram = reinterpret_cast<double*>(buffers[1].data());
  auto work = [=]() -> std::string {
    const auto r = static_cast<Eigen::Index>(rows), c = static_cast<Eigen::Index>(cols);
    const auto xf = Eigen::Map<const MatF>(x, r, c);
    // Checked here, in the pass that reads x anyway, rather than by a loop in JavaScript.
    if (!xf.allFinite()) {
      for (uint64_t i = 0; i < rows * cols; ++i) {
        if (!std::isfinite(x[i])) return "ENONFINITE: x holds a non-finite value at element " + std::to_string(i) + " (row " + std::to_string(i / cols) + ", column " + std::to_string(i % cols) + ")";
      }
    }
    const MatD xd = xf.cast<double>();
    MapD g(gram, c, c);
    MatD update = MatD::Zero(c, c);
    update.selfadjointView<Eigen::Upper>().rankUpdate(xd.transpose());
    g += update.selfadjointView<Eigen::Upper>();
    return "";
  };
  return Queue(env, std::move(buffers), work);
}

}  // namespace

void InitRegmean(Napi::Env env, Napi::Object exports) {
  exports.Set("regmeanFactor", Napi::Function::New(env, RegmeanFactor, "regmeanFactor"));
  exports.Set("regmeanTerm", Napi::Function::New(env, RegmeanTerm, "regmeanTerm"));
  exports.Set("regmeanSolve", Napi::Function::New(env, RegmeanSolve, "regmeanSolve"));
  exports.Set("gramAccumulate", Napi::Function::New(env, GramAccumulate, "gramAccumulate"));
}

}  // namespace evolver
