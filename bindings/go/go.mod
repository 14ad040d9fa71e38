module qsim.dev/qsim

go 1.19
