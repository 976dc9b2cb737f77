from hint_allennlp.models.hint_seq2seq import HintSeq2Seq
