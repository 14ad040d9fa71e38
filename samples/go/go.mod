module qsim.dev/quantize

go 1.19

require qsim.dev/qsim v0.0.0

replace qsim.dev/qsim => ../../bindings/go
