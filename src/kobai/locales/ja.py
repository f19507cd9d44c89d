"""Japanese (日本語) for the ``kobai`` command: its help word for word (``TEXTS``) and its
error messages as patterns (``PATTERNS``), looked up by the English text (:mod:`kobai.i18n`).

A message missing here is shown in English; ``tests/test_i18n.py`` fails when a help text of
the command has no translation, so a new option gets its Japanese with it.
"""

# ruff: noqa: E501

#: English text -> Japanese, exactly (the help of every command, option and group)
TEXTS: dict[str, str] = {
    'kobai (勾配): gradients of neural-network losses by central differences and backpropagation, checked against each other, and trained on MNIST (Deep Learning from Scratch, chapters 3-8).':
        'kobai（勾配）: ニューラルネットワークの損失の勾配を中心差分と誤差逆伝播法で求め、両者を照合し、MNIST で学習します（『ゼロから作るDeep Learning』3〜8章）。',
    'positional arguments':
        '位置引数',
    'options':
        'オプション',
    'show this help message and exit':
        'このヘルプを表示して終了します',
    "show program's version number and exit":
        'バージョンを表示して終了します',
    'train a network on MNIST (default: the bundled sample)':
        'MNIST でネットワークを学習します（既定: 同梱のサンプル）',
    'evaluate a trained model on a test set':
        '学習済みモデルをテストデータで評価します',
    'predict the digit in PNG/JPEG images':
        'PNG/JPEG 画像の数字を予測します',
    'export a trained model: ONNX, safetensors, PyTorch, or a web page to draw a digit on':
        '学習済みモデルを書き出します: ONNX、safetensors、PyTorch、数字を描ける Web ページ',
    "replay the book's simpleNet: W, p, argmax, loss, dW":
        '本の simpleNet を再現します: W、p、argmax、損失、dW',
    'check backprop against numerical gradients':
        '誤差逆伝播法の勾配を数値微分と照合します',
    "run the book's own scripts, unchanged, on kobai":
        '本のスクリプトを変更せずに kobai の上で実行します',
    'hyperparameter search on Ray Tune (local cores or a cluster)':
        'Ray Tune でハイパーパラメータを探索します（手元のコアまたはクラスタ）',
    'network':
        'ネットワーク',
    'training':
        '学習',
    'data and output':
        'データと出力',
    "two-layer: TwoLayerNet (the book's ch. 4-5); mlp: MultiLayerNet (ch. 6); cnn: SimpleConvNet (ch. 7); deepcnn: DeepConvNet (ch. 8) (default: two-layer)":
        'two-layer: TwoLayerNet（本の4〜5章）、mlp: MultiLayerNet（6章）、cnn: SimpleConvNet（7章）、deepcnn: DeepConvNet（8章）（既定: two-layer）',
    'hidden layer sizes (default: 50 for two-layer, 100 100 for mlp, 100 for cnn, 50 for deepcnn)':
        '隠れ層のサイズ（既定: two-layer は 50、mlp は 100 100、cnn は 100、deepcnn は 50）',
    'two-layer and mlp only; default: sigmoid for two-layer, relu for mlp':
        'two-layer と mlp のみ。既定: two-layer は sigmoid、mlp は relu',
    'L2 weight decay λ (mlp only; default 0)':
        'L2 荷重減衰 λ（mlp のみ。既定 0）',
    "dropout ratio after each hidden layer (mlp), or of DeepConvNet's two dropout layers (deepcnn; default 0.5, the book's)":
        '各隠れ層の後の Dropout の比率（mlp）、または DeepConvNet の2つの Dropout 層の比率（deepcnn。既定 0.5、本の値）',
    'batch normalization before each activation (mlp only)':
        '各活性化関数の前に Batch Normalization を入れます（mlp のみ）',
    'default: sgd; adam for cnn and deepcnn':
        '既定: sgd。cnn と deepcnn は adam',
    'learning rate (default: 0.1 for sgd, 0.01 for momentum, nesterov and adagrad, 0.001 for rmsprop and adam)':
        '学習率（既定: sgd は 0.1、momentum・nesterov・adagrad は 0.01、rmsprop と adam は 0.001）',
    "default: 100 (with --resume, the checkpoint's)":
        '既定: 100（--resume ではチェックポイントの値）',
    'total number of epochs (default: 50; 20 for cnn and deepcnn); with --resume, training continues until this epoch':
        '総エポック数（既定: 50。cnn と deepcnn は 20）。--resume ではこのエポックまで学習を続けます',
    "seed for the weights, the batch order and dropout (default 0; with --resume, the resumed run's own seed)":
        '重み・バッチの順序・Dropout の乱数シード（既定 0。--resume では再開する実行のシード）',
    'default: float32':
        '既定: float32',
    'continue training from a model.npz written by kobai train (or its run folder), with its network, optimizer and seed: options that conflict with those are refused':
        'kobai train が書いた model.npz（またはその実行フォルダ）から、そのネットワーク・最適化手法・シードで学習を続けます。これらと矛盾するオプションは拒否します',
    'sample: bundled with kobai; mnist / fashion-mnist: the full sets, downloaded into --data-dir when missing (default: sample; with --resume, the data set the checkpoint was trained on)':
        'sample: kobai 同梱。mnist / fashion-mnist: 全データ。なければ --data-dir にダウンロードします（既定: sample。--resume ではチェックポイントが学習したデータ）',
    'folder of the four IDX .gz files (default: $KOBAI_HOME/datasets/NAME)':
        '4つの IDX .gz ファイルのフォルダ（既定: $KOBAI_HOME/datasets/NAME）',
    "train on the first N training images only (default: all; with --resume, the checkpoint's)":
        '最初の N 枚の訓練画像だけで学習します（既定: すべて。--resume ではチェックポイントの値）',
    "measure test accuracy on the first N test images only (default: all; with --resume, the checkpoint's)":
        '最初の N 枚のテスト画像だけでテスト精度を測ります（既定: すべて。--resume ではチェックポイントの値）',
    'output folder (default: a new runs/<timestamp>/, with -2, -3, ... when two runs start in the same second)':
        '出力フォルダ（既定: 新しい runs/<時刻>/。同じ秒に2つ始まったときは -2、-3、…）',
    'replace the run already in --out (its model.npz, history and plots)':
        '--out にある以前の実行（model.npz、履歴、図）を置き換えます',
    'no progress bar (the per-epoch table is still printed)':
        '進捗バーを出しません（エポックごとの表は出します）',
    'the network of --params (default: two-layer)':
        '--params のネットワーク（既定: two-layer）',
    'a model.npz from kobai train, or the run folder holding it':
        'kobai train の model.npz、またはそれを含む実行フォルダ',
    "the pretrained DeepConvNet (kobai.pretrained), trained by the book's authors on MNIST's 60,000 training images; evaluated on MNIST's test set bundled with kobai unless --dataset says otherwise":
        '学習済み DeepConvNet（kobai.pretrained）。本の著者が MNIST の訓練画像 60,000 枚で学習したもの。--dataset の指定がなければ kobai 同梱の MNIST テストデータで評価します',
    "a parameters file: the book's trained-weight pickles (read without unpickling, e.g. deep_convnet_params.pkl with --net deepcnn) or net.save_params()'s, loaded into a float32 network; --net, --hidden, ... say which network they belong to":
        'パラメータファイル: 本の学習済み重みの pickle（pickle として実行せずに読みます。例: deep_convnet_params.pkl と --net deepcnn）または net.save_params() のファイル。float32 のネットワークに読み込みます。--net、--hidden などでどのネットワークのものかを指定します',
    'folder of the four IDX .gz files':
        '4つの IDX .gz ファイルのフォルダ',
    'evaluate on the first N test images only (default: all)':
        '最初の N 枚のテスト画像だけで評価します（既定: すべて）',
    "where to write confusion.png (default: MODEL's folder; with --pretrained or --params, the current folder)":
        'confusion.png の書き込み先（既定: MODEL のフォルダ。--pretrained または --params では現在のフォルダ）',
    'PNG or JPEG files (a first argument that is a model file or a folder is MODEL)':
        'PNG または JPEG ファイル（先頭の引数がモデルファイルかフォルダなら、それが MODEL です）',
    'a model.npz from kobai train, or the run folder holding it (default: the pretrained DeepConvNet, kobai.pretrained)':
        'kobai train の model.npz、またはそれを含む実行フォルダ（既定: 学習済み DeepConvNet、kobai.pretrained）',
    'write the 28x28 image the model saw for each IMAGE into DIR, as NAME.28x28.png':
        '各 IMAGE についてモデルが見た 28x28 の画像を DIR に NAME.28x28.png として書きます',
    'Export a model for other tools: onnx (ONNX model (onnxruntime, Netron, ...)), safetensors (parameters and state, readable by kobai.io.load), torch (PyTorch state_dict and the Python that rebuilds the module), html (one web page to draw a digit on). The model is given as kobai evaluate takes it: a model.npz written by kobai train (or its run folder), the pretrained DeepConvNet (--pretrained), or a parameters file such as the book\'s trained-weight pickles (--params FILE --net NET). ONNX needs pip install "kobai[onnx]", PyTorch "kobai[torch]"; safetensors and the page need nothing.':
        'ほかのツール向けにモデルを書き出します: onnx（ONNX モデル。onnxruntime、Netron など）、safetensors（パラメータと状態。kobai.io.load で読めます）、torch（PyTorch の state_dict と、モジュールを組み立て直す Python）、html（数字を描ける1枚の Web ページ）。モデルは kobai evaluate と同じように指定します: kobai train が書いた model.npz（またはその実行フォルダ）、学習済み DeepConvNet（--pretrained）、または本の学習済み重みの pickle などのパラメータファイル（--params FILE --net NET）。ONNX には pip install "kobai[onnx]"、PyTorch には "kobai[torch]" が必要です。safetensors と Web ページには何も要りません。',
    'output':
        '出力',
    "the pretrained DeepConvNet (kobai.pretrained): the book's weights, 99.35%% on MNIST's test set":
        '学習済み DeepConvNet（kobai.pretrained）: 本の重み、MNIST のテストデータで 99.35%%',
    'one of onnx, safetensors, torch, html':
        'onnx、safetensors、torch、html のいずれか',
    'the file to write (default: model.<suffix> beside MODEL; with --pretrained or --params, in the current folder, named after the model); --to torch also writes FILE with the suffix .py':
        '書き込むファイル（既定: MODEL と同じ場所の model.<拡張子>。--pretrained または --params では現在のフォルダに、モデルの名前で）。--to torch では、拡張子を .py にした FILE も書きます',
    "convert the parameters (default: the network's own; onnxruntime has no float64 convolution)":
        'パラメータを変換します（既定: ネットワーク自身の型。onnxruntime には float64 の畳み込みがありません）',
    'replace files that exist (refused otherwise)':
        '既存のファイルを置き換えます（指定がなければ拒否します）',
    "Replay the seed notebook (§4.4.2): build simpleNet, predict for x = [0.6, 0.9], take the loss for t = [0, 0, 1] and its numerical gradient dW. Without options, uses the notebook's printed weights and so prints its numbers.":
        '4.4.2節のノートブックを再現します: simpleNet を作り、x = [0.6, 0.9] で予測し、t = [0, 0, 1] での損失とその数値微分 dW を求めます。オプションなしではノートブックに印字された重みを使うので、その数値をそのまま出力します。',
    'draw W from a standard normal with this seed':
        'このシードで W を標準正規分布から引きます',
    "the 2x3 weights, rows separated by ';' (default: the notebook's, -0.78425015,1.35311457,0.17493891;-0.44785118,-0.55581795,0.26695799)":
        "2x3 の重み。行は ';' で区切ります（既定: ノートブックの値 -0.78425015,1.35311457,0.17493891;-0.44785118,-0.55581795,0.26695799）",
    "Build a network, compare its backprop gradients with central differences, and print per parameter the mean and max absolute difference and the checker's report. Exit status 1 when it fails. Default: TwoLayerNet(784, 50, 10) on three MNIST images, as the book's ch05/gradient_check.py; --net cnn: the book's ch07/gradient_check.py, SimpleConvNet with 10 filters 3x3 and 10 hidden units on one random 10x10 image (28x28 MNIST images with --data sample); --net deepcnn: DeepConvNet on one 28x28 image, in fast mode unless --mode full (each of its 123,552 parameters in turn takes minutes).":
        'ネットワークを作り、誤差逆伝播法の勾配を中心差分と比べ、パラメータごとに絶対差の平均と最大、そして照合の報告を出力します。失敗すると終了ステータスは 1 です。既定: 本の ch05/gradient_check.py と同じく、MNIST の画像3枚での TwoLayerNet(784, 50, 10)。--net cnn: 本の ch07/gradient_check.py、3x3 のフィルタ10枚と隠れユニット10個の SimpleConvNet をランダムな 10x10 の画像1枚で（--data sample では 28x28 の MNIST 画像）。--net deepcnn: 28x28 の画像1枚での DeepConvNet。--mode full を指定しなければ高速モードです（123,552 個のパラメータを1つずつ調べると数分かかります）。',
    'hidden layer sizes (default: 50 for two-layer, 100 100 for mlp, 10 for cnn, 50 for deepcnn)':
        '隠れ層のサイズ（既定: two-layer は 50、mlp は 100 100、cnn は 10、deepcnn は 50）',
    'full: every element by central differences; fast: three random directions per parameter array, then its elements if one disagrees (default: full; fast for deepcnn)':
        'full: すべての要素を中心差分で。fast: パラメータ配列ごとにランダムな3方向、合わなければその要素を（既定: full。deepcnn は fast）',
    'also check every layer on its own, at the input and upstream gradient it receives in the network, and name the wrong ones':
        '各層も単独で、ネットワークの中で受け取る入力と上流の勾配のもとで調べ、間違っている層の名前を出します',
    "also measure each parameter's worst element at steps 1e-1 ... 1e-10 and draw the error against the step into this PNG file":
        '各パラメータの最悪の要素を刻み幅 1e-1 … 1e-10 で測り、誤差と刻み幅の関係をこの PNG ファイルに描きます',
    "the first images of the bundled MNIST sample, as the book does, or random inputs in [0, 1) (default: sample; random for cnn and deepcnn, as the book's ch07/gradient_check.py)":
        '本と同じく同梱 MNIST サンプルの最初の画像、または [0, 1) の乱数の入力（既定: sample。cnn と deepcnn は本の ch07/gradient_check.py と同じく random）',
    'number of inputs (default 3; 1 for cnn and deepcnn)':
        '入力の数（既定 3。cnn と deepcnn は 1）',
    'random seed (default 0)':
        '乱数シード（既定 0）',
    "Run the chapter scripts of Deep Learning from Scratch unchanged on kobai.book, the book's modules built on kobai: cd into a chapter folder of a clone of the book's repository and 'kobai book run train_neuralnet.py'.":
        "『ゼロから作るDeep Learning』の章のスクリプトを、kobai の上に作った本のモジュール kobai.book で、変更せずに実行します: 本のリポジトリのクローンの章のフォルダに cd して 'kobai book run train_neuralnet.py'。",
    "run one of the book's scripts on kobai.book":
        '本のスクリプトを1つ kobai.book で実行します',
    "the book's scripts kobai book run was tested with":
        'kobai book run で試験済みの本のスクリプト',
    "what load_mnist serves: sample, the 5,000 training and 10,000 test images bundled with kobai (default), or mnist, the full set from --data-dir or kobai's cache (downloaded when missing)":
        'load_mnist が返すデータ: sample（kobai 同梱の訓練画像 5,000 枚とテスト画像 10,000 枚。既定）、または mnist（--data-dir か kobai のキャッシュにある全データ。なければダウンロード）',
    "folder of the full MNIST's four IDX files, for --dataset mnist (default: $KOBAI_HOME/datasets/mnist)":
        '全 MNIST の4つの IDX ファイルのフォルダ。--dataset mnist 用（既定: $KOBAI_HOME/datasets/mnist）',
    "use matplotlib's Agg backend and save every figure plt.show() would show as DIR/<script>-01.png, -02.png, ... (created if needed; files of an earlier run are overwritten). Without a display, figures are not shown either way":
        'matplotlib の Agg バックエンドを使い、plt.show() が表示するはずの図をすべて DIR/<script>-01.png、-02.png、… として保存します（必要ならフォルダを作り、以前の実行のファイルは上書きします）。ディスプレイがなければ、どちらにしても図は表示されません',
    "np.random.seed(N) before the script starts: the book's scripts seed nothing; with a seed a run is reproducible and gives the numbers the book's own code gives with that seed":
        'スクリプトの開始前に np.random.seed(N) を呼びます: 本のスクリプトはシードを設定しません。シードがあれば実行は再現でき、本のコードが同じシードで出す数値になります',
    "give the script the clone's own common/ (the book's code) and only kobai's dataset: the book's numbers on the same data, to compare":
        'スクリプトにはクローン自身の common/（本のコード）を使い、dataset だけを kobai のものにします: 同じデータでの本の数値と比べるためです',
    "the book's script, e.g. train_neuralnet.py":
        '本のスクリプト。例: train_neuralnet.py',
    'arguments for the script':
        'スクリプトへの引数',
    "List the scripts of the book's chapters 3-8 that import common or dataset, with what kobai book run does with them and how long they take on the bundled data.":
        '本の3〜8章のスクリプトのうち common か dataset を import するものを、kobai book run での扱いと同梱データでの所要時間とともに一覧にします。',
    'Search hyperparameters as the book\'s ch06/hyperparameter_optimization.py does, on Ray Tune: each trial trains a configuration on the training part of a validation split (20% of the training data by default, stratified and seeded) and is scored on the validation part; the best one is then trained on all the training data and tested once on the test set. Needs ray[tune]: pip install "kobai[tune]".\n\nEach kobai train option takes a fixed value, a range or a choice (a,b,c):\n  fixed   --lr 0.01  --optimizer adam  --hidden 100 100  --batchnorm (= on)\n  range   LOW:HIGH uniform, LOW:HIGH:log log-uniform: --lr 1e-6:1e-2:log,\n          --dropout 0.1:0.5; integers, HIGH included: --batch-size 32:256:log\n  choice  --optimizer sgd,adam  --net mlp,cnn  --batch-size 50,100,200\n          --batchnorm on,off  --dropout none,0.2,0.5 (none: no dropout)\n  hidden  100x6: six layers of 100; 100-50: 100 then 50; choices 100x6,50x2,200;\n          one width drawn for all layers: 50:200x6, 50:400:logx3\nLeft out: the book\'s search, --net mlp --hidden 100x6 --activation relu\n--optimizer sgd --batch-size 100 --lr 1e-6:1e-2:log --weight-decay 1e-8:1e-4:log\nand no dropout or batch norm; for --net other than mlp, --hidden, --activation\nand --weight-decay are left to the net\'s own defaults.':
        '本の ch06/hyperparameter_optimization.py と同じようにハイパーパラメータを Ray Tune で\n探索します: 各試行は検証用の分割（既定では訓練データの 20%、層化してシード付き）の\n訓練側で設定を学習し、検証側で評価します。最良の設定はその後すべての訓練データで\n学習し直し、テストデータで一度だけテストします。ray[tune] が必要です:\npip install "kobai[tune]"。\n\nkobai train の各オプションは、固定値・範囲・選択肢（a,b,c）をとります:\n  固定    --lr 0.01  --optimizer adam  --hidden 100 100  --batchnorm（= on）\n  範囲    LOW:HIGH は一様、LOW:HIGH:log は対数一様: --lr 1e-6:1e-2:log、\n          --dropout 0.1:0.5。整数は HIGH を含みます: --batch-size 32:256:log\n  選択肢  --optimizer sgd,adam  --net mlp,cnn  --batch-size 50,100,200\n          --batchnorm on,off  --dropout none,0.2,0.5（none: Dropout なし）\n  隠れ層  100x6: 100 の層を6つ。100-50: 100 の次に 50。選択肢 100x6,50x2,200。\n          全層に1つの幅を引く: 50:200x6、50:400:logx3\n省略時は本の探索: --net mlp --hidden 100x6 --activation relu\n--optimizer sgd --batch-size 100 --lr 1e-6:1e-2:log --weight-decay 1e-8:1e-4:log\nで Dropout も Batch Normalization もなし。mlp 以外の --net では、--hidden、--activation、\n--weight-decay はそのネットワーク自身の既定値です。',
    'search space (any kobai train option: a value, a range or a choice; see above)':
        '探索空間（kobai train のどのオプションでも: 値、範囲、選択肢。上を参照）',
    'search':
        '探索',
    'where trials run':
        '試行を実行する場所',
    'number of trials (default: 100)':
        '試行の数（既定: 100）',
    'epochs per trial, and of the retraining (default: 20)':
        '試行ごとのエポック数。学習し直しのエポック数でもあります（既定: 20）',
    "random: every trial runs every epoch (the book's random search); asha: Ray Tune's ASHA stops trials that trail (default: random)":
        'random: すべての試行がすべてのエポックを実行します（本のランダム探索）。asha: Ray Tune の ASHA が遅れている試行を止めます（既定: random）',
    'asha: epochs before a trial can be stopped (default: epochs / 10)':
        'asha: 試行を止められるようになるまでのエポック数（既定: エポック数 / 10）',
    "seeds the split, the configurations drawn and each trial's weights (default 0)":
        '分割、引く設定、各試行の重みのシード（既定 0）',
    "book: the book's experiment, the first 500 training images, 20%% of them for validation, 100 trials of 50 epochs (options given explicitly win)":
        'book: 本の実験。最初の訓練画像 500 枚、その 20%% を検証用に、50 エポックの試行を 100 回（明示したオプションが優先されます）',
    'do not retrain and test the best configuration':
        '最良の設定を学習し直してテストすることはしません',
    "start a local Ray instance with N CPUs, one trial on each (default: all of this machine's)":
        'N 個の CPU で手元に Ray を起動し、各 CPU で1つずつ試行を実行します（既定: このマシンのすべて）',
    'join a running Ray cluster (`ray start --head` prints its address), or auto':
        '実行中の Ray クラスタに参加します（`ray start --head` がアドレスを表示します）。または auto',
    'as kobai train (default: sample, bundled)':
        'kobai train と同じ（既定: sample、同梱）',
    'as kobai train':
        'kobai train と同じ',
    'search on the first N training images only (default: all)':
        '最初の N 枚の訓練画像だけで探索します（既定: すべて）',
    'share of the training images held out for validation (default 0.2)':
        '検証用に取り分ける訓練画像の割合（既定 0.2）',
    "the search's folder (default: a new runs/tune-<timestamp>/)":
        '探索のフォルダ（既定: 新しい runs/tune-<時刻>/）',
    'continue an interrupted search in DIR with its own settings':
        'DIR の中断した探索を、その設定のまま続けます',
    'no progress bar':
        '進捗バーを出しません',
    '--lr-schedule cosine and plateau: the lowest learning rate (default 0)':
        '--lr-schedule cosine と plateau: 学習率の下限（既定 0）',
    '--lr-schedule plateau: epochs without improvement before a reduction (default 10)':
        '--lr-schedule plateau: 下げるまでの改善のないエポック数（既定 10）',
    '--lr-schedule plateau: the factor of each reduction (default 0.1)':
        '--lr-schedule plateau: 1回ごとに掛ける係数（既定 0.1）',
    '--lr-schedule step: epochs between reductions (default: a third of --epochs, rounded up)':
        '--lr-schedule step: 下げる間隔のエポック数（既定: --epochs の3分の1、切り上げ）',
    '--lr-schedule step: the factor of each reduction (default 0.1)':
        '--lr-schedule step: 1回ごとに掛ける係数（既定 0.1）',
    'a smaller decrease of the loss is no improvement, for --patience and --lr-schedule plateau (default 0)':
        '損失の減少がこれより小さければ改善とみなしません。--patience と --lr-schedule plateau 用（既定 0）',
    'hold out this fraction of the training images for validation (stratified by class, seeded by --seed), e.g. 0.1':
        '訓練画像のこの割合を検証用に取り分けます（クラスで層化、--seed でシード）。例: 0.1',
    'learning-rate schedule (kobai.schedules): constant (the default), step (times --lr-gamma every --lr-step epochs), cosine (to --lr-floor over the run), plateau (times --lr-factor after --lr-patience epochs without a lower validation loss, else training loss)':
        '学習率のスケジュール（kobai.schedules）: constant（既定）、step（--lr-step エポックごとに --lr-gamma 倍）、cosine（学習全体で --lr-floor まで）、plateau（検証損失、なければ訓練損失が --lr-patience エポック下がらなければ --lr-factor 倍）',
    'stop when the validation loss has not improved for N epochs (needs --validation)':
        '検証損失が N エポック改善しなければ止めます（--validation が必要）',
    'validation, early stopping and learning-rate schedules':
        '検証・早期終了・学習率のスケジュール',
    "with --validation, also evaluate the test set after every epoch, as without it (the book's curves)":
        '--validation があっても、ないときと同じくエポックごとにテストデータを評価します（本の曲線）',
    'warning':
        '警告',
    "Draw learning_curve.png of a run folder of kobai train again, from its history: history.json (else history.csv, which has no mini-batch losses), or model.npz's when that holds more epochs — e.g. for a run an older kobai left with only model.npz. Only learning_curve.png is written; the run's other files are left as they are (kobai evaluate draws confusion.png).":
        'kobai train の実行フォルダの learning_curve.png を、その履歴から描き直します: history.json（なければミニバッチごとの損失を持たない history.csv）、または model.npz の履歴のほうがエポックが多ければそれを使います（例えば、以前の kobai が model.npz だけを残した実行）。書くのは learning_curve.png だけで、実行のほかのファイルはそのままです（confusion.png は kobai evaluate が描きます）。',
    "Train a network on MNIST. With no options: the book's TwoLayerNet(784, 50, 10), sigmoid, SGD lr 0.1, batch 100, 50 epochs, on the MNIST sample that ships with kobai (5,000 training images, MNIST's 10,000 test images). --net cnn and --net deepcnn train the book's SimpleConvNet (ch. 7) and DeepConvNet (ch. 8) with the settings of the book's train_convnet.py: Adam, lr 0.001, batch 100, 20 epochs. Writes model.npz, history.csv and history.json (after every epoch) and learning_curve.png (at the end, or when stopped by Ctrl-C) into --out, and for the convolutional nets the first layer's filters before and after training, filters-before.png and filters-after.png; a new folder for each run unless told otherwise: an earlier run is never overwritten without --force. A run that ends at chance accuracy (it learned nothing) gets a warning naming the likely cause.":
        'MNIST でネットワークを学習します。オプションなしでは、本の TwoLayerNet(784, 50, 10)、sigmoid、SGD 学習率 0.1、バッチ 100、50 エポックで、kobai 同梱の MNIST サンプル（訓練画像 5,000 枚、MNIST のテスト画像 10,000 枚）を使います。--net cnn と --net deepcnn は本の SimpleConvNet（7章）と DeepConvNet（8章）を、本の train_convnet.py の設定（Adam、学習率 0.001、バッチ 100、20 エポック）で学習します。--out に model.npz、history.csv、history.json（エポックごと）と learning_curve.png（最後に、または Ctrl-C で止めたとき）を書き、畳み込みネットでは学習前後の第1層のフィルタ filters-before.png と filters-after.png も書きます。指定がなければ実行ごとに新しいフォルダを作り、以前の実行は --force なしには上書きしません。偶然と同じ正解率で終わった実行（何も学習しなかった実行）には、考えられる原因を添えて警告を出します。',
    'a run folder of kobai train (its --out)':
        'kobai train の実行フォルダ（その --out）',
    "draw a run's learning curve again from its files":
        '実行の学習曲線をそのファイルから描き直します',
    "Run SCRIPT as 'python SCRIPT ...' would, in SCRIPT's own folder (the book's scripts expect their chapter folder: 'kobai book run ch03/neuralnet_mnist.py' from the book's root runs it in ch03), with the book's 'common' and 'dataset' resolved to kobai.book for this run only, kobai's data, pickles read and written without unpickling (a dict of arrays only; written as kobai's .npz under the script's file name) and figures that never block. kobai's options come before SCRIPT; everything after it goes to the script.":
        "SCRIPT を 'python SCRIPT ...' と同じように、SCRIPT 自身のフォルダで実行します（本のスクリプトは自分の章のフォルダで動く前提です: 本のルートから 'kobai book run ch03/neuralnet_mnist.py' とすると ch03 で実行します）。この実行の間だけ本の 'common' と 'dataset' を kobai.book に置き換え、データは kobai のもの、pickle は実行せずに読み書きし（配列の dict のみ。スクリプトのファイル名で kobai の .npz として書きます）、図で止まることはありません。kobai のオプションは SCRIPT の前に、その後ろはすべてスクリプトに渡します。",
    "Evaluate a model on a test set: accuracy, per-class precision and recall, a text confusion matrix, and confusion.png. The model is a model.npz written by kobai train (or its run folder), the pretrained DeepConvNet that ships with kobai (--pretrained: the book's, 99.35% on MNIST's test set), or a parameters file such as the book's trained-weight pickles (--params FILE --net NET: a file that does not fit NET is refused, naming the --net and --hidden it fits; weights that score clearly better under another --activation on 500 test images get a note saying so).":
        'モデルをテストデータで評価します: 正解率、クラスごとの適合率と再現率、テキストの混同行列、confusion.png。モデルは kobai train が書いた model.npz（またはその実行フォルダ）、kobai 同梱の学習済み DeepConvNet（--pretrained: 本のもの、MNIST のテストデータで 99.35%）、または本の学習済み重みの pickle などのパラメータファイル（--params FILE --net NET: NET に合わないファイルは、合う --net と --hidden を示して拒否します。別の --activation のほうがテスト画像 500 枚で明らかに高い正解率になる重みには、そう注記します）です。',
    "Predict the digit in each image, with the pretrained DeepConvNet that ships with kobai (the book's, 99.35% on MNIST's test set) unless --model or --params names another. The model may also come first among the arguments, as in earlier versions (kobai predict MODEL IMAGE...): a first argument that is a kobai model file (a zip archive, whatever its name) or a folder is the model, never an image. Images of any size are converted as MNIST was made: grayscale, the background separated from the ink by a threshold (Otsu's, beyond the paper's noise) and made black, white strokes on black (dark-on-light images are inverted), cropped to the strokes, scaled into a 20x20 box and centred in 28x28. Uneven lighting of the page is taken out first, a transparent background counts as background (light strokes on it are put on black), a box drawn round the digit is left out, and an image of several separate marks (digits side by side) is read mark by mark, left to right: 2 separate marks (columns ...) give two digits. A blank image gives 'no digit found'. A file that cannot be read is reported and the others are still predicted; the exit status is then 2. Needs Pillow: pip install 'kobai[images]'.":
        "各画像の数字を予測します。--model または --params で別のモデルを指定しなければ、kobai 同梱の学習済み DeepConvNet（本のもの、MNIST のテストデータで 99.35%）を使います。以前の版のように、モデルを引数の先頭に置くこともできます（kobai predict MODEL IMAGE...）: 先頭の引数が kobai のモデルファイル（名前によらず zip アーカイブ）かフォルダなら、それはモデルであって画像ではありません。画像の大きさは問いません。MNIST の作り方に合わせて変換します: グレースケールにし、しきい値（紙のノイズを除いた大津の方法）で背景とインクを分けて背景を黒に、黒地に白の線にし（明るい地に暗い線の画像は反転）、線の範囲で切り抜き、20x20 に収めて 28x28 の中央に置きます。その前に、紙の明るさのむらを取り除き、透明な背景は背景として扱い（その上の明るい線は黒地に置きます）、数字を囲む枠は除き、離れた複数の印（横に並んだ数字）のある画像は印ごとに左から右へ読みます: 離れた印が2つ（列 ...）なら数字2つです。何も描かれていない画像は「数字が見つかりません」となります。読めないファイルは報告し、残りはそのまま予測します。そのときの終了ステータスは 2 です。Pillow が必要です: pip install 'kobai[images]'。",
    "default: the data set the model was trained on (recorded in its checkpoint), else sample (whose test set is MNIST's 10,000 test images); mnist and fashion-mnist read (or download) their two test files only":
        '既定: モデルが学習したデータ（チェックポイントに記録）、なければ sample（テストデータは MNIST のテスト画像 10,000 枚）。mnist と fashion-mnist は2つのテストファイルだけを読みます（なければダウンロード）',
    # the words of error messages
    'expected one argument':
        '値を1つ指定してください',
    'a positive integer':
        '正の整数',
    'a positive number':
        '正の数',
    'an integer >= 0':
        '0 以上の整数',
    'a number >= 0':
        '0 以上の数',
    'a ratio in [0, 1)':
        '[0, 1) の比率',
    'error':
        'エラー',
    'interrupted':
        '中断しました',
    'give the model to evaluate: MODEL (a model.npz or run folder), --pretrained, or --params FILE --net NET':
        '評価するモデルを指定してください: MODEL（model.npz または実行フォルダ）、--pretrained、または --params FILE --net NET',
    'give the model to export: MODEL (a model.npz or run folder), --pretrained, or --params FILE --net NET':
        '書き出すモデルを指定してください: MODEL（model.npz または実行フォルダ）、--pretrained、または --params FILE --net NET',
}

#: (regular expression of an English message, Japanese template): the first that matches the
#: whole message wins; groups named ``msg...`` are translated in turn, the others (file names,
#: values, options) are kept as they are
PATTERNS: list[tuple[str, str]] = [
    (r"(?P<msg>.+) \(see '(?P<cmd>kobai[^']*) --help'\)", "{msg}（'{cmd} --help' を参照）"),
    (r"the following arguments are required: (?P<args>.+)", "次の引数が必要です: {args}"),
    (r"unrecognized arguments: (?P<args>.+)", "認識できない引数です: {args}"),
    (r"argument (?P<arg>\S+): invalid choice: (?P<value>.+?) \(choose from (?P<choices>.+)\)",
     "引数 {arg}: {value} は選べません（選べるのは {choices}）"),
    (r"argument (?P<arg>\S+): (?P<msg>.+)", "引数 {arg}: {msg}"),
    (r"expected (?P<msg_what>.+?), got (?P<got>.+)",
     "{msg_what}を指定してください（指定されたのは {got}）"),
    (r"give one model, not (?P<given>.+)",
     "モデルは1つだけ指定してください（指定されたもの: {given}）"),
    (r"(?P<path>.+) already exists?; give another --out, or --force to replace",
     "{path} はすでにあります。別の --out を指定するか、--force で置き換えてください"),
    (r"--out (?P<path>.+) is a folder; give the file to write, e\.g\. (?P<eg>.+)",
     "--out {path} はフォルダです。書き込むファイルを指定してください（例: {eg}）"),
    (r"cannot write (?P<path>.+): the folder (?P<folder>.+) does not exist",
     "{path} を書き込めません: フォルダ {folder} がありません"),
    (r"(?P<path>.+) is a folder without a model\.npz; give a model\.npz written by kobai "
     r"train, or the run folder holding it",
     "{path} は model.npz のないフォルダです。kobai train が書いた model.npz か、それを含む"
     "実行フォルダを指定してください"),
    (r"cannot export (?P<name>.+?) as (?P<fmt>\w+): (?P<msg>.+)",
     "{name} を {fmt} として書き出せません: {msg}"),
    (r"cannot export layer '(?P<layer>[^']+)' \((?P<cls>[^)]+)\): the exporters know "
     r"(?P<known>.+?) \(subclasses count as unknown: their forward may differ\)",
     "層 '{layer}'（{cls}）は書き出せません: 書き出せるのは {known} です（サブクラスは "
     "forward が違いうるので対象外です）"),
    (r"cannot load (?P<path>.+?): (?P<msg>.+)", "{path} を読み込めません: {msg}"),
    (r"--out (?P<out>.+) is a file; --out names the run's folder",
     "--out {out} はファイルです。--out には実行のフォルダを指定します"),
    (r"(?P<out>.+) already holds a run \((?P<files>.+)\); kobai train does not overwrite it: "
     r"choose another --out, continue it with --resume (?P<resume>.+) --out (?P<again>.+), or "
     r"replace it with --force",
     "{out} にはすでに実行結果があります（{files}）。kobai train は上書きしません: 別の --out "
     "を選ぶか、--resume {resume} --out {again} で続けるか、--force で置き換えてください"),
    (r"interrupted in epoch (?P<epoch>\d+) of (?P<epochs>\d+); (?P<rest>.+)",
     "{epochs} エポック中の第 {epoch} エポックで中断しました。{rest}"),
]
