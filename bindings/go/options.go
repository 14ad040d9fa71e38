package qsim

// #include "shims.h"
import "C"

// CalibrationMethod is how a tensor's range is calibrated (qsim_calibration_method).
type CalibrationMethod int32

const (
	CalibMinMax     CalibrationMethod = C.QSIM_CALIB_MINMAX
	CalibTFEnhanced CalibrationMethod = C.QSIM_CALIB_TF_ENHANCED
	CalibPercentile CalibrationMethod = C.QSIM_CALIB_PERCENTILE
	CalibEntropy    CalibrationMethod = C.QSIM_CALIB_ENTROPY
	CalibMSE        CalibrationMethod = C.QSIM_CALIB_MSE
	CalibPowerOfTwo CalibrationMethod = C.QSIM_CALIB_POW2
)

// ParseCalibrationMethod is the method of a name: "minmax", "tf_enhanced", "percentile",
// "entropy", "mse" or "pow2".
func ParseCalibrationMethod(name string) (CalibrationMethod, error) {
	var memory cMemory
	defer memory.free()
	var method C.qsim_calibration_method
	var message *C.char
	status := C.qsimgo_calibration_method_from_name(memory.cString(name), &method, &message)
	return CalibrationMethod(method), errorOf(status, message)
}

// NaNPolicy is what calibration does with NaN/Inf values (qsim_nan_policy).
type NaNPolicy int32

const (
	NaNReject  NaNPolicy = C.QSIM_NAN_REJECT
	NaNExclude NaNPolicy = C.QSIM_NAN_EXCLUDE
)

// Target is the integer arithmetic of the runtime a model is deployed on (qsim_target).
type Target int32

const (
	TargetExact   Target = C.QSIM_TARGET_EXACT
	TargetORTAVX2 Target = C.QSIM_TARGET_ORT_AVX2
)

// ParseTarget is the target of a name: "exact" or "ort-avx2".
func ParseTarget(name string) (Target, error) {
	var memory cMemory
	defer memory.free()
	var target C.qsim_target
	var message *C.char
	status := C.qsimgo_target_from_name(memory.cString(name), &target, &message)
	return Target(target), errorOf(status, message)
}

// Options are a session's options (qsim_options); the fields are documented in qsim.h.
// Start from DefaultOptions: the zero value is not the defaults.
type Options struct {
	NumThreads             int32 // 0 = all cores
	WeightBits             int32
	ActivationBits         int32
	PerChannel             bool
	ActivationCalibration  CalibrationMethod
	WeightCalibration      CalibrationMethod
	Percentile             float64
	ConfigPath             string // AIMET quantsim config JSON file, or ""
	ConfigJSON             string // the same as a string, or "" (not both)
	FoldBatchNorm          bool
	NaNPolicy              NaNPolicy
	Target                 Target
	Emulate                Target
	MaxTensorBytes         uint64
	CrossLayerEqualization bool
	CLESteps               int32
	CLEReplaceReLU6        bool
	CLEHighBiasAbsorption  bool
	CLEIncludeBias         bool
}

// DefaultOptions are the library's defaults (qsim_options_init). It panics only when the
// library rejects the struct size of the header the binding was built with, a library older
// than that header.
func DefaultOptions() Options {
	c := initOptions()
	return Options{
		NumThreads:             int32(c.num_threads),
		WeightBits:             int32(c.weight_bits),
		ActivationBits:         int32(c.activation_bits),
		PerChannel:             c.per_channel != 0,
		ActivationCalibration:  CalibrationMethod(c.activation_calibration),
		WeightCalibration:      CalibrationMethod(c.weight_calibration),
		Percentile:             float64(c.percentile),
		FoldBatchNorm:          c.fold_batch_norm != 0,
		NaNPolicy:              NaNPolicy(c.nan_policy),
		Target:                 Target(c.target),
		Emulate:                Target(c.emulate),
		MaxTensorBytes:         uint64(c.max_tensor_bytes),
		CrossLayerEqualization: c.cross_layer_equalization != 0,
		CLESteps:               int32(c.cle_steps),
		CLEReplaceReLU6:        c.cle_replace_relu6 != 0,
		CLEHighBiasAbsorption:  c.cle_high_bias_absorption != 0,
		CLEIncludeBias:         c.cle_include_bias != 0,
	}
}

func initOptions() C.qsim_options {
	var c C.qsim_options
	var message *C.char
	mustInit(errorOf(C.qsimgo_options_init(&c, &message), message))
	return c
}

func mustInit(err error) {
	if err != nil {
		panic(err)
	}
}

func cBool(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}

// cOptions is o as C sees it, its strings in memory; nil for a nil o (the defaults).
func (o *Options) cOptions(memory *cMemory) *C.qsim_options {
	if o == nil {
		return nil
	}
	c := initOptions()
	c.num_threads = C.int32_t(o.NumThreads)
	c.weight_bits = C.int32_t(o.WeightBits)
	c.activation_bits = C.int32_t(o.ActivationBits)
	c.per_channel = cBool(o.PerChannel)
	c.activation_calibration = C.qsim_calibration_method(o.ActivationCalibration)
	c.weight_calibration = C.qsim_calibration_method(o.WeightCalibration)
	c.percentile = C.double(o.Percentile)
	if o.ConfigPath != "" {
		c.config_path = memory.cString(o.ConfigPath)
	}
	if o.ConfigJSON != "" {
		c.config_json = memory.cString(o.ConfigJSON)
	}
	c.fold_batch_norm = cBool(o.FoldBatchNorm)
	c.nan_policy = C.qsim_nan_policy(o.NaNPolicy)
	c.target = C.qsim_target(o.Target)
	c.emulate = C.qsim_target(o.Emulate)
	c.max_tensor_bytes = C.uint64_t(o.MaxTensorBytes)
	c.cross_layer_equalization = cBool(o.CrossLayerEqualization)
	c.cle_steps = C.int32_t(o.CLESteps)
	c.cle_replace_relu6 = cBool(o.CLEReplaceReLU6)
	c.cle_high_bias_absorption = cBool(o.CLEHighBiasAbsorption)
	c.cle_include_bias = cBool(o.CLEIncludeBias)
	return &c
}

// SmoothQuantOptions are SmoothQuant's options (qsim_smooth_quant_options).
type SmoothQuantOptions struct {
	Alpha      float64 // migration strength in [0, 1]
	NumSamples int32   // calibration samples measured (the reader's first ones)
}

// DefaultSmoothQuantOptions are the library's defaults; it panics as DefaultOptions does.
func DefaultSmoothQuantOptions() SmoothQuantOptions {
	c := initSmoothQuantOptions()
	return SmoothQuantOptions{Alpha: float64(c.alpha), NumSamples: int32(c.num_samples)}
}

func initSmoothQuantOptions() C.qsim_smooth_quant_options {
	var c C.qsim_smooth_quant_options
	var message *C.char
	mustInit(errorOf(C.qsimgo_smooth_quant_options_init(&c, &message), message))
	return c
}

func (o *SmoothQuantOptions) cOptions() *C.qsim_smooth_quant_options {
	if o == nil {
		return nil
	}
	c := initSmoothQuantOptions()
	c.alpha = C.double(o.Alpha)
	c.num_samples = C.int32_t(o.NumSamples)
	return &c
}

// AdaroundMode is what Adaround optimizes (qsim_adaround_mode).
type AdaroundMode int32

const (
	ModeAdaround                 AdaroundMode = C.QSIM_ADAROUND
	ModeAdaquant                 AdaroundMode = C.QSIM_ADAQUANT
	ModeBiasCorrection           AdaroundMode = C.QSIM_BIAS_CORRECTION
	ModeBiasCorrectionAnalytical AdaroundMode = C.QSIM_BIAS_CORRECTION_ANALYTICAL
)

// AdaroundOptions are the options of AdaRound, AdaQuant and bias correction
// (qsim_adaround_options; documented in qsim.h and docs/ADAROUND.md).
type AdaroundOptions struct {
	Mode                 AdaroundMode
	NumIterations        int32
	NumSamples           int32
	BatchSamples         int32
	NumThreads           int32 // 0 = the session's
	Seed                 uint64
	MemoryBudgetBytes    uint64
	Regularization       float64
	BetaStart            float64
	BetaEnd              float64
	WarmStart            float64
	LearningRate         float64
	Zeta                 float64
	Gamma                float64
	AdaquantIterations   int32
	AdaquantEarlyStop    bool
	AdaquantLearningRate float64
	AdaquantTrainBias    bool
}

// DefaultAdaroundOptions are the library's defaults; it panics as DefaultOptions does.
func DefaultAdaroundOptions() AdaroundOptions {
	c := initAdaroundOptions()
	return AdaroundOptions{
		Mode:                 AdaroundMode(c.mode),
		NumIterations:        int32(c.num_iterations),
		NumSamples:           int32(c.num_samples),
		BatchSamples:         int32(c.batch_samples),
		NumThreads:           int32(c.num_threads),
		Seed:                 uint64(c.seed),
		MemoryBudgetBytes:    uint64(c.memory_budget_bytes),
		Regularization:       float64(c.regularization),
		BetaStart:            float64(c.beta_start),
		BetaEnd:              float64(c.beta_end),
		WarmStart:            float64(c.warm_start),
		LearningRate:         float64(c.learning_rate),
		Zeta:                 float64(c.zeta),
		Gamma:                float64(c.gamma),
		AdaquantIterations:   int32(c.adaquant_iterations),
		AdaquantEarlyStop:    c.adaquant_early_stop != 0,
		AdaquantLearningRate: float64(c.adaquant_learning_rate),
		AdaquantTrainBias:    c.adaquant_train_bias != 0,
	}
}

func initAdaroundOptions() C.qsim_adaround_options {
	var c C.qsim_adaround_options
	var message *C.char
	mustInit(errorOf(C.qsimgo_adaround_options_init(&c, &message), message))
	return c
}

func (o *AdaroundOptions) cOptions() *C.qsim_adaround_options {
	if o == nil {
		return nil
	}
	c := initAdaroundOptions()
	c.mode = C.qsim_adaround_mode(o.Mode)
	c.num_iterations = C.int32_t(o.NumIterations)
	c.num_samples = C.int32_t(o.NumSamples)
	c.batch_samples = C.int32_t(o.BatchSamples)
	c.num_threads = C.int32_t(o.NumThreads)
	c.seed = C.uint64_t(o.Seed)
	c.memory_budget_bytes = C.uint64_t(o.MemoryBudgetBytes)
	c.regularization = C.double(o.Regularization)
	c.beta_start = C.double(o.BetaStart)
	c.beta_end = C.double(o.BetaEnd)
	c.warm_start = C.double(o.WarmStart)
	c.learning_rate = C.double(o.LearningRate)
	c.zeta = C.double(o.Zeta)
	c.gamma = C.double(o.Gamma)
	c.adaquant_iterations = C.int32_t(o.AdaquantIterations)
	c.adaquant_early_stop = cBool(o.AdaquantEarlyStop)
	c.adaquant_learning_rate = C.double(o.AdaquantLearningRate)
	c.adaquant_train_bias = cBool(o.AdaquantTrainBias)
	return &c
}

// ExportFormat is a set of files Export writes (qsim_export_format bits).
type ExportFormat uint32

const (
	ExportEncodingsFBS ExportFormat = C.QSIM_EXPORT_ENCODINGS_FBS
	ExportAIMETJSON061 ExportFormat = C.QSIM_EXPORT_AIMET_JSON_0_6_1
	ExportAIMETJSON100 ExportFormat = C.QSIM_EXPORT_AIMET_JSON_1_0_0
	ExportONNXRounded  ExportFormat = C.QSIM_EXPORT_ONNX_ROUNDED
	ExportONNXQDQ      ExportFormat = C.QSIM_EXPORT_ONNX_QDQ
	ExportAll          ExportFormat = C.QSIM_EXPORT_ALL
)

// QDQWideForm is how 16-bit QuantizeLinear/DequantizeLinear are written (qsim_qdq_wide_form).
type QDQWideForm int32

const (
	QDQWideMicrosoft QDQWideForm = C.QSIM_QDQ_WIDE_MICROSOFT
	QDQWideOpset21   QDQWideForm = C.QSIM_QDQ_WIDE_OPSET21
)

// ExportOptions are Export's options (qsim_export_options).
type ExportOptions struct {
	Formats            ExportFormat
	Basename           string // file name stem
	QDQInt8Activations bool
	QDQWideForm        QDQWideForm
}

// DefaultExportOptions are the library's defaults; it panics as DefaultOptions does.
func DefaultExportOptions() ExportOptions {
	c := initExportOptions()
	return ExportOptions{
		Formats:            ExportFormat(c.formats),
		Basename:           C.GoString(c.basename),
		QDQInt8Activations: c.qdq_int8_activations != 0,
		QDQWideForm:        QDQWideForm(c.qdq_wide_form),
	}
}

func initExportOptions() C.qsim_export_options {
	var c C.qsim_export_options
	var message *C.char
	mustInit(errorOf(C.qsimgo_export_options_init(&c, &message), message))
	return c
}

func (o *ExportOptions) cOptions(memory *cMemory) *C.qsim_export_options {
	if o == nil {
		return nil
	}
	c := initExportOptions()
	c.formats = C.uint32_t(o.Formats)
	if o.Basename != "" {
		c.basename = memory.cString(o.Basename)
	}
	c.qdq_int8_activations = cBool(o.QDQInt8Activations)
	c.qdq_wide_form = C.int32_t(o.QDQWideForm)
	return &c
}
