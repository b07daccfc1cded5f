package track

import "testing"

func TestContribute(t *testing.T) {
	tests := []struct {
		name string
		u    Update
		w    Weight
		want Contribution
	}{
		{"Script_Weight0_Failed_Fault", Update{Kind: KindScript, Name: "chk"}, Weight{}, Contribution{Fault: true}},
		{"Script_Weight0_OK_NoFault", Update{Kind: KindScript, Name: "chk", OK: true}, Weight{}, Contribution{}},
		{"Script_Weight0_Reverse_OK_Fault", Update{Kind: KindScript, Name: "chk", OK: true}, Weight{Reverse: true}, Contribution{Fault: true}},
		{"Script_Weight0_Reverse_Failed_NoFault", Update{Kind: KindScript, Name: "chk"}, Weight{Reverse: true}, Contribution{}},
		{"Script_Weight0_Init_Pending", Update{Kind: KindScript, Name: "chk", Init: true}, Weight{}, Contribution{Pending: true}},
		{"Script_Weighted_Init_Nothing", Update{Kind: KindScript, Name: "chk", Init: true}, Weight{Weight: -20}, Contribution{}},
		{"Script_PositiveWeight_OK_Adds", Update{Kind: KindScript, Name: "chk", OK: true}, Weight{Weight: 10}, Contribution{Delta: 10}},
		{"Script_PositiveWeight_Failed_Nothing", Update{Kind: KindScript, Name: "chk"}, Weight{Weight: 10}, Contribution{}},
		{"Script_NegativeWeight_Failed_Subtracts", Update{Kind: KindScript, Name: "chk"}, Weight{Weight: -20}, Contribution{Delta: -20}},
		{"Script_NegativeWeight_OK_Nothing", Update{Kind: KindScript, Name: "chk", OK: true}, Weight{Weight: -20}, Contribution{}},
		{"Script_PositiveWeight_Reverse_OK_Subtracts", Update{Kind: KindScript, Name: "chk", OK: true}, Weight{Weight: 10, Reverse: true}, Contribution{Delta: -10}},
		{"Script_NegativeWeight_Reverse_Failed_Adds", Update{Kind: KindScript, Name: "chk"}, Weight{Weight: -20, Reverse: true}, Contribution{Delta: 20}},
		{"Script_Insecure_Weight0_Fault", Update{Kind: KindScript, Name: "chk", Insecure: "x: insecure"}, Weight{}, Contribution{Fault: true}},
		{"Process_Weight0_NoQuorum_Fault", Update{Kind: KindProcess, Name: "p"}, Weight{}, Contribution{Fault: true}},
		{"Process_PositiveWeight_Quorum_Adds", Update{Kind: KindProcess, Name: "p", OK: true, Value: 2}, Weight{Weight: 5}, Contribution{Delta: 5}},
		{"Interface_Weight0_Down_Fault", Update{Kind: KindInterface, Name: "eth1"}, Weight{}, Contribution{Fault: true}},
		{"Interface_NegativeWeight_Down_Subtracts", Update{Kind: KindInterface, Name: "eth1"}, Weight{Weight: -2}, Contribution{Delta: -2}},
		{"File_Weight0_Zero_NoFault", Update{Kind: KindFile, Name: "f"}, Weight{}, Contribution{}},
		{"File_Weight0_NonZero_Fault", Update{Kind: KindFile, Name: "f", Value: 3}, Weight{}, Contribution{Fault: true}},
		{"File_ValueTimesWeight", Update{Kind: KindFile, Name: "f", Value: 5}, Weight{Weight: 3}, Contribution{Delta: 15}},
		{"File_Negative_ValueTimesWeight", Update{Kind: KindFile, Name: "f", Value: -5}, Weight{Weight: 3}, Contribution{Delta: -15}},
		{"File_Reverse_Negates", Update{Kind: KindFile, Name: "f", Value: 5}, Weight{Weight: 3, Reverse: true}, Contribution{Delta: -15}},
		{"File_CappedAt253", Update{Kind: KindFile, Name: "f", Value: 200}, Weight{Weight: 2}, Contribution{Delta: 253}},
		{"File_AtMinus254_Fault", Update{Kind: KindFile, Name: "f", Value: -254}, Weight{Weight: 1}, Contribution{Fault: true}},
		{"File_BelowMinus254_Fault", Update{Kind: KindFile, Name: "f", Value: -100}, Weight{Weight: 3}, Contribution{Fault: true}},
		{"File_Minus253_NotFault", Update{Kind: KindFile, Name: "f", Value: -253}, Weight{Weight: 1}, Contribution{Delta: -253}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Contribute(tc.u, tc.w)
			if got.Delta != tc.want.Delta || got.Fault != tc.want.Fault || got.Pending != tc.want.Pending {
				t.Fatalf("Contribute(%+v, %+v) = %+v, want delta %d fault %v pending %v", tc.u, tc.w, got, tc.want.Delta, tc.want.Fault, tc.want.Pending)
			}
			if (got.Delta != 0 || got.Fault || got.Pending) && got.Reason == "" {
				t.Fatalf("non-zero contribution without a reason: %+v", got)
			}
		})
	}
}

func TestSum(t *testing.T) {
	d, fault, pending, reasons := Sum([]Contribution{{Delta: 10, Reason: "a"}, {Delta: -30, Reason: "b"}, {}, {Fault: true, Reason: "c"}})
	if d != -20 || !fault || pending || len(reasons) != 3 {
		t.Fatalf("Sum = %d %v %v %v", d, fault, pending, reasons)
	}
}
