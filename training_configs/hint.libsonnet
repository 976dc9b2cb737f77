// What every experiment in training_configs/ shares: the backbones, the models of the paper as
// settings of `hint_seq2seq`, the paper's optimisation, and one function per training recipe (the
// decoder-only baselines of Table 1, `instruction_causal_lm`, have their own backbones and recipe).
//
// An experiment file is a function of `settings` with a default, so `allennlp train` runs it as it
// is (AllenNLP calls a top-level function with its defaults). To change settings, call it from a
// file of your own, e.g. the 3B backbone on four GPUs:
//
//   (import "training_configs/sni/def/hint.jsonnet")({ backbone: "xl", cuda_devices: [0, 1, 2, 3] })
//
// Settings are not read from the environment because jsonnet's std.extVar fails on an unset
// variable and has no way to test for one. Single AllenNLP keys can also be changed with
// `allennlp train ... -o '{"trainer.num_epochs": 2}'`; settings that several keys derive from
// (backbone, devices, batch sizes, data folders) belong in `settings`.

// A path below this repository's root from whatever directory `allennlp` runs in: `std.thisFile` is
// this file's path as the config that imports it names it (relative to the working directory or
// absolute), with `a/..` steps folded away.
local repository_path(relative) =
  local this_file = std.split(std.thisFile, '/');
  local steps = this_file[:std.length(this_file) - 1] + ['..'] + std.split(relative, '/');
  local folded = std.foldl(
    function(kept, step)
      if step == '' || step == '.' then kept
      else if step == '..' && kept != [] && kept[std.length(kept) - 1] != '..' then kept[:std.length(kept) - 1]
      else kept + [step],
    steps,
    []
  );
  (if std.startsWith(std.thisFile, '/') then '/' else '') + (if folded == [] then '.' else std.join('/', folded));

// The paper's backbones (each checkpoint and the adapter bottleneck `a` and prefix length `P`
// generated for it) and its models as settings of `hint_seq2seq`: one table, which Python reads too
// (hint_allennlp/models/paper_variants.py).
local paper = import '../hint_allennlp/models/paper_variants.json';
// The tiny checkpoint is a folder of this repository: named from wherever `allennlp` runs.
local backbones = paper.backbones { tiny+: { model_name: repository_path(super.model_name) } };

// The decoder-only baselines' checkpoints (paper Table 1, appendix D) and the reader's length limits
// for each (prompt and target must fit GPT-2's 1,024 and OPT's 2,048 positions, where T5's relative
// positions had no such bound), from the same table; `tiny` names the tiny checkpoint of the same
// architecture (what `tiny_cpu`'s backbone 'tiny' gives these experiments).
local decoder_only_backbones = paper.decoder_only_backbones {
  [name]+: { model_name: repository_path(super.model_name) }
  for name in ['tiny_gpt2', 'tiny_opt', 'tiny_llama', 'tiny_qwen2']
};

// Every setting there is; a key not listed here is rejected (a typo would otherwise be ignored).
local defaults = {
  backbone: 'base',
  // Follow the backbone unless set.
  model_name: backbones[self.backbone].model_name,
  adapter_size: backbones[self.backbone].adapter_size,
  prefix_length: backbones[self.backbone].prefix_length,

  // Data. SNI: `tasks/*.json` in `sni_dir` and `train_tasks.txt`, `test_tasks.txt` in
  // `sni_splits_dir` (allenai/natural-instructions keeps them in `splits/default`).
  sni_dir: 'data/sni',
  sni_splits_dir: self.sni_dir + '/splits',
  max_instances_per_task: 100,
  // Read only the SNI tasks whose input, output and instruction languages are English, as the
  // paper; false for a multilingual backbone (mT5: `model_name`, e.g. google/mt5-base).
  english_only: true,
  // P3 in the `p3` reader's JSON-lines format (`allennlp hint-p3-prepare`): a file, a folder of
  // files or a glob.
  p3_train_data: 'data/p3/train',
  p3_test_data: 'data/p3/test',
  // Raw text for hypernetwork pretraining, e.g. C4's json.gz files as they ship.
  pretraining_data: 'data/c4/en/c4-train.*.json.gz',
  chunk_length: 512,
  max_instruction_tokens: 1024,
  max_source_tokens: 1024,
  max_target_tokens: 256,
  // Many-shot instructions past `max_instruction_tokens` (SNI and P3, docs/readers.md): null is
  // the paper's single sequence; 'packed' or 'per_example' give the hypernetwork the definition
  // and the examples in chunks of at most `max_instruction_tokens`, encoded one by one; SNI draws
  // the examples beyond a task's positive ones from its instances, P3 reads the records' shots
  // (drawn from the train split by `hint-p3-prepare --shots`).
  instruction_chunking: null,

  // Optimisation, counted as the paper counts it: `optimizer_steps` steps of `examples_per_step`
  // examples. Each device runs batches of `batch_size` and accumulates gradients until the devices
  // together have seen `examples_per_step`. An AllenNLP epoch is `optimizer_steps / num_epochs`
  // steps and ends with a checkpoint (what `allennlp train --recover` resumes from).
  optimizer_steps: 1000,
  examples_per_step: 1024,
  batch_size: 8,
  // Batches that mix all tasks (null), or of `tasks_per_batch` tasks x `batch_size /
  // tasks_per_batch` examples each (the `task_grouped` batch sampler, docs/training.md): the
  // hypernetwork then runs `tasks_per_batch` times per batch instead of `batch_size` times.
  tasks_per_batch: null,
  num_epochs: 10,
  // -1 is the CPU; several devices train with PyTorch DDP (gloo on CPU, NCCL on GPUs).
  cuda_devices: [0],
  // Shard parameters, gradients and optimizer state over the devices with PyTorch's FSDP2
  // (`torch_fsdp`, docs/sharded_training.md; for backbones that do not fit one device with their
  // Adafactor state: xl, xxl).
  fsdp: false,
  // Several machines (docs/sharded_training.md): each runs `allennlp train ... --node-rank <i>`
  // with the same config, `cuda_devices` being the devices of each machine; the primary (node 0)
  // is reached at `primary_address`:`primary_port` (a port every node gives alike).
  num_nodes: 1,
  primary_address: '127.0.0.1',
  primary_port: null,
  // A `model.tar.gz` or `best.th` of the same model, e.g. from pretraining, to start from.
  pretrained_weights: null,
  // With `pretrained_weights`, also start from the optimizer state of the run that made them, as
  // the authors' finetuning after pretraining (gins/full_restore.gin): the last
  // `training_state_*.th` in `pretraining_serialization_dir` (null: the folder of
  // `pretrained_weights`). false starts the optimizer afresh.
  restore_pretraining_optimizer: true,
  pretraining_serialization_dir: null,
  // Memory (docs/training_large_models.md). Recompute each T5 block in backward instead of keeping
  // its activations: same gradients, about a third more compute, activations an order of magnitude
  // smaller at the paper's lengths. bf16 autocast in training, evaluation and generation, float32 weights (fp16
  // is refused: T5 v1.1 overflows it). xl and xxl default to both (`backbone_memory` below).
  gradient_checkpointing: false,
  bf16: false,
  // Dropout of T5 and of the generator's attention; null keeps the checkpoint's (0.1, the paper's
  // finetuning rate). Hypernetwork pretraining uses 0.0, as the reference's gins/pretrain.gin.
  dropout: null,
  // Rank of the generated LoRA updates on q and v in the LoRA ablation (Table 5: 128 and 512).
  lora_rank: paper.module_sizes.lora_rank,
  // Freeze the underlying T5, training only the hypernetwork (the authors' train_only_hnet.gin);
  // null keeps the model's own (true for `hypertune`, false for the others).
  train_only_hypernetwork: null,

  // Decoder-only recipe only: linear learning-rate warmup before the linear decay.
  warmup_steps: 1000,

  // Evaluation of the final model on the test split (the paper evaluates the last checkpoint).
  eval_batch_size: 32,
  max_decoding_steps: self.max_target_tokens,
  tensorboard: true,
};

// Each model of the paper (Tables 1, 5 and 6) as the reader's instruction format plus
// `hint_seq2seq` keys, its `peft` completed by its sizes on the backbone (`peft_by_backbone`) and
// the settings it takes the sizes from.
local models = {
  [name]: function(s)
    local variant = paper.variants[name];
    local by_backbone = std.get(std.get(variant, 'peft_by_backbone', {}), s.backbone, {});
    {
      instruction_format: variant.instruction_format,
      model: variant.model + (
        if std.objectHas(variant, 'peft')
        then { peft: variant.peft + by_backbone + { [key]: s[key] for key in variant.peft_from_settings } }
        else {}
      ),
    }
  for name in std.objectFields(paper.variants)
};

// The decoder-only baselines' optimisation (paper appendix D): AdamW at 2e-5 (of the swept 1e-5,
// 2e-5, 5e-5; the paper reports the best and does not say which), linear warmup over 1,000 steps
// and linear decay to 0, batches of 32, 5 epochs (of the swept 3, 5, 10). Weight decay, betas and
// epsilon are not given: HF Trainer's defaults (0, (0.9, 0.999), 1e-8), and so is its clipping of
// the gradients' norm at 1.0 (`max_grad_norm`), which the T5 recipes' Adafactor runs without.
local adamw = { type: 'adamw', lr: 2e-5, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.0 };
local hf_trainer_max_grad_norm = 1.0;
local decoder_only_recipe = { examples_per_step: 32, num_epochs: 5, warmup_steps: 1000 };

// HF `Adafactor(lr=1e-3, relative_step=False, scale_parameter=True, warmup_init=False)`, constant.
local adafactor = {
  type: 'huggingface_adafactor',
  lr: 1e-3,
  relative_step: false,
  scale_parameter: true,
  warmup_init: false,
};

// What fits 80 GB GPUs at the paper's lengths and 8 examples per device, by the table in
// docs/training_large_models.md (the memory plan's tests check these settings against it):
// xl with DDP needs checkpointing, xxl also needs its weights, gradients and optimizer state
// sharded over the devices (FSDP).
local backbone_memory = {
  xl: { gradient_checkpointing: true, bf16: true },
  xxl: { gradient_checkpointing: true, bf16: true, fsdp: true, cuda_devices: std.range(0, 7) },
  // AdamW keeps two float32 moments per parameter: OPT-13B's weights, gradients and moments are
  // sharded over 8 devices (docs/training_large_models.md), 4 examples each (a step's 32); GPT-2
  // XL's fit one device.
  gpt2_xl: { gradient_checkpointing: true, bf16: true },
  opt_13b: {
    gradient_checkpointing: true,
    bf16: true,
    fsdp: true,
    cuda_devices: std.range(0, 7),
    batch_size: 4,
  },
};

// `folder` if set, else the folder holding the file `path`.
local folder_of(path, folder) =
  local parts = std.split(path, '/');
  if folder != null then folder
  else if std.length(parts) == 1 then '.'
  else if std.length(parts) == 2 && parts[0] == '' then '/'
  else std.join('/', parts[:std.length(parts) - 1]);

local settings_with(recipe_defaults, settings, choices=backbones) =
  local unknown = std.setDiff(std.objectFields(settings), std.objectFields(defaults));
  assert unknown == [] : 'Unknown settings %s; the settings are in training_configs/hint.libsonnet.' % [unknown];
  local backbone = if std.objectHas(settings, 'backbone') then settings.backbone else defaults.backbone;
  assert std.objectHas(choices, backbone) :
         "backbone '%s' is not a backbone of this recipe: one of %s (hint_allennlp/models/paper_variants.json); a checkpoint of your own goes in `model_name`." % [backbone, std.objectFields(choices)];
  defaults + std.get(backbone_memory, backbone, {}) + recipe_defaults + settings;

// What every reader takes: the checkpoint (the reader builds T5's tokenizer and indexer from it)
// and the maximum lengths.
local reader_keys(s) = {
  model_name: s.model_name,
  max_instruction_tokens: s.max_instruction_tokens,
  max_source_tokens: s.max_source_tokens,
  max_target_tokens: s.max_target_tokens,
};

local hint_seq2seq(model, s) = {
  type: 'hint_seq2seq',
  model_name: s.model_name,
  max_decoding_steps: s.max_decoding_steps,
  gradient_checkpointing: s.gradient_checkpointing,
  mixed_precision: if s.bf16 then 'bf16' else null,
  [if s.dropout != null then 'dropout']: s.dropout,
  [if s.pretrained_weights != null then 'initializer']: {
    regexes: [['.*', { type: 'pretrained', weights_file_path: s.pretrained_weights }]],
  },
} + model + (
  if s.train_only_hypernetwork != null then { train_only_hypernetwork: s.train_only_hypernetwork } else {}
);

// The keys every recipe shares: data loading, trainer, devices. `streamed` data (C4, P3) is read
// lazily and shuffled in a buffer instead of being held in memory whole. The T5 recipes train
// `optimizer_steps` steps in `num_epochs` checkpointed parts; `whole_epochs` (the decoder-only
// recipe) trains `num_epochs` passes over the data with AdamW and a linear warmup and decay.
local training(s, streamed=false, whole_epochs=false) =
  local num_devices = std.length(s.cuda_devices);
  local num_workers = num_devices * s.num_nodes;
  local examples_per_round = s.batch_size * num_workers;
  assert s.examples_per_step % examples_per_round == 0 :
         'examples_per_step (%d) must be a multiple of batch_size x devices x nodes (%d).'
         % [s.examples_per_step, examples_per_round];
  assert s.num_nodes == 1 || s.primary_port != null :
         'num_nodes (%d) > 1 needs primary_port: the port of the primary node, the same on every node.' % s.num_nodes;
  assert whole_epochs || s.optimizer_steps % s.num_epochs == 0 :
         'optimizer_steps (%d) must be a multiple of num_epochs (%d).' % [s.optimizer_steps, s.num_epochs];
  assert !s.fsdp || num_workers > 1 :
         'fsdp shards over several devices, and cuda_devices %s x %d node(s) is one: without it the whole model, its gradients and optimizer state would sit on that device. Give several cuda_devices, or fsdp: false.'
         % [s.cuda_devices, s.num_nodes];
  local accumulation = s.examples_per_step / examples_per_round;
  assert s.tasks_per_batch == null || s.batch_size % s.tasks_per_batch == 0 :
         'batch_size (%d) must be a multiple of tasks_per_batch (%d).' % [s.batch_size, s.tasks_per_batch];
  {
    vocabulary: { type: 'empty' },  // the vocabulary comes with the checkpoint
    data_loader: (
      if s.tasks_per_batch == null then { batch_size: s.batch_size, shuffle: true }
      else {
        batch_sampler: {
          type: 'task_grouped',
          tasks_per_batch: s.tasks_per_batch,
          examples_per_task: s.batch_size / s.tasks_per_batch,
        },
      }
    ) + {
      [if !whole_epochs then 'batches_per_epoch']: s.optimizer_steps / s.num_epochs * accumulation,
      [if streamed then 'max_instances_in_memory']: 10 * s.examples_per_step,
    },
    validation_data_loader: { batch_size: s.eval_batch_size, shuffle: false },
    // The model's copy of the backbone's config and tokenizer: the archive loads without
    // `model_name` (hint_allennlp/modules/backbone.py).
    include_in_archive: ['backbone'],
    trainer: {
      num_epochs: s.num_epochs,
      // The same Adafactor, with its state sharded like the parameters.
      optimizer: if whole_epochs then adamw
      else adafactor + (if s.fsdp then { type: 'sharded_adafactor' } else {}),
      [if whole_epochs then 'learning_rate_scheduler']: {
        type: 'linear_with_warmup',
        warmup_steps: s.warmup_steps,
      },
      [if whole_epochs then 'grad_norm']: hf_trainer_max_grad_norm,
      num_gradient_accumulation_steps: accumulation,
      [if num_workers == 1 then 'cuda_device']: s.cuda_devices[0],
      // exact_resume: `--recover` reproduces the uninterrupted run (random-number states checkpointed).
      // stop_on_non_finite: a diverged run stops, naming the step, before non-finite weights are saved.
      callbacks: [{ type: 'exact_resume' }, { type: 'stop_on_non_finite' }]
                 + (if s.tensorboard then [{ type: 'tensorboard' }] else [])
                 + (if s.pretrained_weights != null && s.restore_pretraining_optimizer then [{
                      type: 'restore_pretraining_optimizer',
                      pretraining_serialization_dir: folder_of(s.pretrained_weights, s.pretraining_serialization_dir),
                    }] else []),
    },
    [if num_workers > 1 then 'distributed']: {
      cuda_devices: s.cuda_devices,
      [if s.num_nodes > 1 then 'num_nodes']: s.num_nodes,
      [if s.num_nodes > 1 then 'primary_address']: s.primary_address,
      [if s.primary_port != null then 'primary_port']: s.primary_port,
      [if s.fsdp then 'ddp_accelerator']: { type: 'torch_fsdp' },
    },
  };

// The final model is evaluated on the test data after training, as in the paper (there is no
// validation: model selection on the test tasks would be cheating). Under DDP AllenNLP evaluates on
// the primary worker alone, which would see only its share of the data while the metrics wait for
// the other workers; evaluate such runs afterwards with `allennlp evaluate`.
local final_evaluation(s, test_data_path) = {
  test_data_path: test_data_path,
  evaluate_on_test: std.length(s.cuda_devices) * s.num_nodes == 1,
};

{
  // A path below this repository, e.g. for configs of your own that read its fixtures.
  repository_path:: repository_path,

  // The tiny checkpoint and the fixtures on the CPU (paths below this repository, so from any
  // directory): the demo trains with it in a few minutes, the tests with shorter runs.
  tiny_cpu: {
    backbone: 'tiny',
    sni_dir: repository_path('fixtures/sni'),
    p3_train_data: repository_path('fixtures/p3/prompts.jsonl'),
    p3_test_data: repository_path('fixtures/p3/test_prompts.jsonl'),  // answer choices only: scored by rank classification
    pretraining_data: repository_path('fixtures/pretraining/c4-sample.json.gz'),
    chunk_length: 64,  // the fixture documents are short
    optimizer_steps: 600,
    examples_per_step: 8,
    batch_size: 8,
    num_epochs: 5,
    cuda_devices: [-1],
    eval_batch_size: 16,
    max_decoding_steps: 16,
    tensorboard: false,
    // The decoder-only recipe's warmup, scaled to its run here (5 passes over the fixture tasks,
    // about 100 steps), so that its learning rate reaches its peak.
    warmup_steps: 10,
  },

  // Super-NaturalInstructions (paper §4): 1,000 steps of 1,024 examples, then the final model is
  // evaluated on the test tasks (RougeL, exact match, FLOPs). `model` is a key of `models`;
  // `positive_examples` 0 is the 'Def' setting, 2 'Def + 2 Pos.'.
  sni(model, positive_examples, settings={})::
    local s = settings_with({}, settings);
    local chosen = models[model](s);
    {
      dataset_reader: reader_keys(s) {
        type: 'sni',
        tasks_dir: s.sni_dir + '/tasks',
        instruction_format: chosen.instruction_format,
        num_positive_examples: positive_examples,
        max_instances_per_task: s.max_instances_per_task,
        [if !s.english_only then 'english_only']: false,
        [if s.instruction_chunking != null then 'instruction_chunking']: s.instruction_chunking,
      },
      train_data_path: s.sni_splits_dir + '/train_tasks.txt',
      model: hint_seq2seq(chosen.model, s),
    } + training(s) + final_evaluation(s, s.sni_splits_dir + '/test_tasks.txt'),

  // The decoder-only baselines of Table 1 on Super-NaturalInstructions (paper appendix D):
  // `instruction_causal_lm` on `backbone` (a key of `decoder_only_backbones`: 'gpt2_xl',
  // 'opt_13b'), fully finetuned on the Tk-Instruct prompt (split after the instruction, so that
  // evaluation caches the instruction's keys and values once per task), loss over the target and
  // EOS, then the final model is evaluated on the test tasks. Settings as for `sni`; the backbone
  // setting 'tiny' (`tiny_cpu`) is the tiny checkpoint of the backbone's architecture.
  sni_decoder_only(backbone, positive_examples, settings={}, model={})::
    local chosen = std.get(settings, 'backbone', backbone);
    local name = if chosen == 'tiny' then decoder_only_backbones[backbone].tiny else chosen;
    assert std.objectHas(decoder_only_backbones, name) :
           'backbone %s is not a decoder-only backbone: one of %s.' % [name, std.objectFields(decoder_only_backbones)];
    local picked = decoder_only_backbones[name];
    local s = settings_with(
      decoder_only_recipe + picked.lengths + { model_name: picked.model_name },
      settings { backbone: name },
      decoder_only_backbones
    );
    assert s.dropout == null :
           'dropout is a setting of the T5 recipes: instruction_causal_lm keeps its checkpoint\'s (set it in the checkpoint\'s config).';
    {
      dataset_reader: reader_keys(s) {
        type: 'sni',
        tasks_dir: s.sni_dir + '/tasks',
        instruction_format: 'tk_instruct_prefix',
        sequence_layout: 'decoder_only',
        num_positive_examples: positive_examples,
        max_instances_per_task: s.max_instances_per_task,
        [if s.instruction_chunking != null then 'instruction_chunking']: s.instruction_chunking,
      },
      train_data_path: s.sni_splits_dir + '/train_tasks.txt',
      model: {
        type: 'instruction_causal_lm',
        model_name: s.model_name,
        max_decoding_steps: s.max_decoding_steps,
        gradient_checkpointing: s.gradient_checkpointing,
        mixed_precision: if s.bf16 then 'bf16' else null,
        [if s.pretrained_weights != null then 'initializer']: {
          regexes: [['.*', { type: 'pretrained', weights_file_path: s.pretrained_weights }]],
        },
      } + model,
    } + training(s, whole_epochs=true) + final_evaluation(s, s.sni_splits_dir + '/test_tasks.txt'),

  // What `sni_decoder_only`'s `model` adds for generated modules on a causal LM
  // (docs/causal_hint.md): HINT ('cross_attention': adapters after each MLP, unless `adapters`
  // is false (OPT has no MLP module), prefixes, instruction fusion) or Text-to-LoRA
  // ('text_to_lora': LoRA on q, k, v, o at T2L's r = 8, alpha = 16, the instruction only in the
  // generator).
  // What a Text-to-LoRA experiment adds beside its `model`: T2L's task encoder is a Linear with
  // bias followed by a LayerNorm (as in SakanaAI/text-to-lora's hyper_modulator.py), which
  // AllenNLP's NormalizationBiasVerification, run by the trainer on its first batch, refuses; the
  // bias is kept as the reference has it, so the check is off.
  text_to_lora_experiment:: { trainer+: { run_confidence_checks: false } },

  generated_modules(generator, adapter_size=8, prefix_length=7, adapters=true)::
    if generator == 'text_to_lora' then {
      parameter_generator: { type: 'text_to_lora' },
      peft: {
        use_adapters: false,
        use_prefixes: false,
        use_lora: true,
        lora_rank: 8,
        lora_alpha: 16,
        lora_projections: ['q', 'k', 'v', 'o'],
      },
      instruction_fusion: false,
    } else {
      parameter_generator: { type: generator },
      peft: { adapter_size: adapter_size, prefix_length: prefix_length, use_adapters: adapters },
      instruction_fusion: true,
    },

  // P3 / T0 (paper §4): 10,000 steps of 2,048 examples, hypernetwork input up to 512 tokens (the
  // authors' gins/t0_train.gin); the test tasks are scored by rank classification (accuracy and
  // Table 10's averages over prompts). Data: `allennlp hint-p3-prepare` (docs/p3.md). The p3
  // reader's `mode` says what the hypernetwork and the encoder read: 'joint' or 'split' for models
  // with a hypernetwork, 'prompt_only' (T0) or 'no_prompt' for those without;
  // `few_shot_placement` where the records' few-shot examples go ('hypernetwork' or 'input');
  // `num_shots` how many of them (null: all the records have).
  p3(model, mode, settings={}, few_shot_placement=null, num_shots=null)::
    local s = settings_with({ optimizer_steps: 10000, examples_per_step: 2048, max_instruction_tokens: 512 }, settings);
    local chosen = models[model](s);
    local reads_instruction = chosen.instruction_format == 'hint';
    assert reads_instruction == std.member(['joint', 'split'], mode) :
           "p3 mode '%s' does not fit model '%s': 'joint' and 'split' are for models with a hypernetwork, 'prompt_only' and 'no_prompt' for models without." % [mode, model];
    {
      // Training mixes tasks with and without answer choices: targets only. The test tasks are
      // scored by their choices.
      dataset_reader: reader_keys(s) {
        type: 'p3',
        mode: mode,
        answer_choices: false,
        [if few_shot_placement != null then 'few_shot_placement']: few_shot_placement,
        [if num_shots != null then 'num_shots']: num_shots,
        [if s.instruction_chunking != null then 'instruction_chunking']: s.instruction_chunking,
      },
      validation_dataset_reader: self.dataset_reader { answer_choices: true },
      train_data_path: s.p3_train_data,
      model: hint_seq2seq(chosen.model, s),
    } + training(s, streamed=true) + final_evaluation(s, s.p3_test_data),

  // Hypernetwork pretraining: chunks of up to 512 T5 pieces of raw text split into hypernetwork
  // input, encoder input and target; `parts` 3 is the paper's scheme (§3.3, 'Ours' in Table 4), 4
  // is CACLM (Table 4; the hypernetwork reads the text around the encoder's part and the target).
  // 10,000 steps of 1,024 chunks (Tables 4 and 6; the paper uses 7,000 for the 11B model), at most
  // 512 tokens in each part, without dropout (gins/pretrain.gin, gins/pretrain_4part.gin).
  pretraining(model, parts=3, settings={})::
    local s = settings_with({
      optimizer_steps: 10000,
      dropout: 0.0,
      max_instruction_tokens: 512,
      max_source_tokens: 512,
      max_target_tokens: 512,
    }, settings);
    {
      dataset_reader: reader_keys(s) {
        type: 'hypernetwork_pretraining',
        chunk_length: s.chunk_length,
        parts: parts,
      },
      train_data_path: s.pretraining_data,
      model: hint_seq2seq(models[model](s).model, s),
    } + training(s, streamed=true),
}
