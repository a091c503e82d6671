"""What keeps a `cep run` alive as a service: checkpoints (`checkpoint`), the input's
and outputs' positions (`positions`) and clean stops on a signal (`stopping`)."""
