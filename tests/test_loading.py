"""Reading, normalising and validating bench files, on small hand-written files in tmp_path and on the
real public bench."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench import schema as S
from medicalrec.bench.describe import describe
from medicalrec.bench.defaults import PUBLIC, shipped_data_path
from medicalrec.bench.loading import Bench, Normalized, file_format, load_bench, normalize, read_table
from medicalrec.bench.tasks import assign_task_ids
from medicalrec.errors import DataFileError, Problem, SchemaError, ValidationError

from conftest import REAL_BENCH  # noqa: E402

# Twenty records with the published MedicalRec-Bench headers and the mess real spreadsheets hold:
# percent accuracy, Yes/No folds, numbers written as text, padded text, missing-value tokens,
# spelling variants of models and categories, task-type spellings, an extra column.
PUBLISHED = """\
Ref,Domain,Modality,Task type,#Sample,#Train,#Test,#Validation,K-fold,Width,hight,#channel,#Class,Augmentation,Accu,Pre,Rec,F1,AUC,Model,Comment
Smith2020, Skin  cancer ,Dermatoscope,Binary-Class,"10,000",8000,2000,0,5, 224 ,224,3,2,yes,95.5,0.9,0.91,0.92,0.97,ResNet-50,first row
Smith2020,Skin cancer,Dermatoscope,binary,1e4,8000,2000,0,5,224,224,3,2,no,90,0.85,0.86,0.87,0.93,resnet 50,
Smith2020,skin cancer,Dermatoscope,Binary,10000,8000,2000,0,5,224,224,3,2,true,88,0.8,0.81,0.82,0.9,ResNet-50,
Smith2020,Skin cancer,dermatoscope,binary,10000,8000,2000,0,5-fold,224,224,3,2,false,86,0.79,0.8,0.8,0.89,ResNet_50,
Lee2021,Tumour,MRI,Multi-Class,3064,2451,613,,No,512,512,1,3,0,97.1,0.96,0.95,0.955,,VGG16,
Lee2021,Tumour,MRI,multiclass,3064,2451,613,NA,No,512,512,1,3,1,96,n/a,-,?,NA,vgg16,
Lee2021,Tumour,MRI,Multi-class,3064,2451,613,,Yes,512,512,1,3,,94.2,,,,,DenseNet121,
Lee2021,Tumour,MRI,multi class classification,3064,2451,613,,yes,512,512,1,3,TRUE,93,0.9,0.9,0.9,,EfficientNet-B0,
Kim2022,Breast cancer,Ultrasound,Multi-Label,780,546,156,78,0,256,256,1,3,N,85,0.8,0.7,0.75,0.88,ViT-B/16,
Kim2022,Breast cancer,Ultrasound,multi-label,780,546,156,78,0,256,256,1,3,Y,83.5,0.78,0.69,0.73,0.86,ResNet-50,
Kim2022,Breast cancer,Ultrasound,Multi-Label,780,546,156,78,0,256,256,1,3,,80,0.75,0.65,0.7,0.84,VGG16,
Park2023,Diabetic retinopathy,Fundus,Ordinal Regression,3662,2930,366,366,0,"1,024","1,024",3,5,yes,82,0.7,0.68,0.69,0.9,EfficientNet-B0,
Park2023,Diabetic retinopathy,Fundus,ordinal,3662,2930,366,366,0,1024,1024,3,5,yes,80.5,0.69,0.66,0.67,0.89,DenseNet121,
Park2023,Diabetic retinopathy,Fundus,Ordinal,3662,2930,366,366,0,1024,1024,3,5,no,79,0.65,0.64,0.64,0.87,ViT-B/16,
Chen2024,Wound,Photograph,binary,  ,,,,,,,3,2,,75,0.7,0.71,0.7,0.8,ResNet-50,no sizes
Chen2024,Wound,Photograph,binary,?,-,n/a,NA,,?,?,3,2,,74,0.69,0.7,0.69,0.79,VGG16,
Chen2024,Wound,Photograph,binary,,,,,,,,3,2,,72.25,0.66,0.68,0.67,0.78,DenseNet121,
Ng2019,Colorectal cancer,Histopathology,multi-class,5000,4000,1000,0,10,150,150,3,8,1,99,0.98,0.98,0.98,0.99,ResNet-50,
Ng2019,Colorectal cancer,Histopathology,Multi-Class,5000,4000,1000,0,10,150,150,3,8,0,98.5,0.97,0.97,0.97,0.995,EfficientNet-B0,
Ng2019,Colorectal cancer,Histopathology,Multi-Class,5000,4000,1000,0,10,150,150,3,8,0,97,0.96,0.96,0.96,0.99,VGG16,
"""

# One bad value (or two) per row, canonical headers; the last row is fine.
BAD = """\
model,ref,n_samples,n_train,n_test,n_val,width,height,channels,n_classes,task_type,augmentation,accuracy,auc
A,R1,abc,10,5,5,28,28,1,2,binary,yes,0.9,0.8
B,R1,100,-5,5,5,28,28,1,2,binary,yes,0.9,0.8
C,R1,100,10,5,5,28.5,28,1,2,binary,yes,0.9,0.8
D,R1,100,150,120,5,28,28,1,2,binary,yes,0.9,0.8
E,R1,100,10,5,5,28,28,0,1,binary,yes,0.9,0.8
F,R1,100,10,5,5,0,28,1,2,regression,maybe,-0.2,0.8
G,R1,100,10,5,5,28,28,1,2,binary,no,0.9,x
H,R1,100,10,5,5,28,28,1,2,binary,no,0.9,0.8
"""

BAD_PROBLEMS = [
    Problem(2, "n_samples", "abc", "a whole number >= 1"),
    Problem(3, "n_train", "-5", "a whole number >= 0"),
    Problem(4, "width", "28.5", "a whole number >= 1"),
    Problem(5, "n_train", "150", "at most n_samples (100)"),
    Problem(5, "n_test", "120", "at most n_samples (100)"),
    Problem(6, "channels", "0", "a whole number >= 1"),
    Problem(6, "n_classes", "1", "a whole number >= 2"),
    Problem(7, "task_type", "regression", "one of binary, multi-class, multi-label, ordinal"),
    Problem(7, "width", "0", "a whole number >= 1"),
    Problem(7, "augmentation", "maybe", "yes/no, true/false or 1/0"),
    Problem(7, "accuracy", "-0.2", "a fraction in [0, 1] or a percentage in [0, 100]"),
    Problem(8, "auc", "x", "a number (a fraction in [0, 1] or a percentage)"),
]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def published(tmp_path: Path) -> Bench:
    return load_bench(write(tmp_path, "published.csv", PUBLISHED))


# ----------------------------------------------------------------------------- headers and layout


def test_published_headers_map_to_canonical_columns_in_order(published: Bench):
    frame = published.frame
    assert list(frame.columns) == list(C.CANONICAL_COLUMNS) + ["Comment"]
    assert len(frame) == 20
    assert frame[C.TASK].isna().all()
    assert frame[C.BALANCED_ACCURACY].isna().all()
    assert frame["Comment"].tolist()[:2] == ["first row", None]
    assert frame.loc[14, "Comment"] == "no sizes"


def test_dtypes_are_object_text_and_float_numbers(published: Bench):
    frame = published.frame
    for column in C.TEXT_COLUMNS + C.CATEGORICAL_COLUMNS + ("Comment",):
        assert frame[column].dtype == object, column
        assert all(v is None or isinstance(v, str) for v in frame[column]), column
    for column in C.COUNT_COLUMNS + C.BOOLEAN_COLUMNS + C.METRIC_COLUMNS:
        assert frame[column].dtype == np.float64, column


def test_headers_match_case_space_underscore_insensitively(tmp_path: Path):
    path = write(
        tmp_path, "h.csv",
        "  REF ,N_Samples,balanced accuracy,Task_Type,#CLASS,k fold,HEIGHT, model \nR,10,0.5,binary,2,3,28,A\n",
    )
    frame = load_bench(path).frame
    row = frame.iloc[0]
    assert (row[C.REF], row[C.N_SAMPLES], row[C.BALANCED_ACCURACY], row[C.TASK_TYPE]) == ("R", 10.0, 0.5, "binary")
    assert (row[C.N_CLASSES], row[C.K_FOLD], row[C.HEIGHT], row[C.MODEL]) == (2.0, 3.0, 28.0, "A")
    assert list(frame.columns) == list(C.CANONICAL_COLUMNS)


def test_every_alias_maps_back_to_its_column():
    for column, aliases in S.HEADER_ALIASES.items():
        assert column in C.CANONICAL_COLUMNS
        for alias in aliases:
            assert S.canonical_column(alias) == column, alias
            assert S.canonical_column(f" {alias.upper()} ") == column, alias
    assert S.canonical_column("Specificity") is None


def test_unknown_columns_are_kept_after_canonical_ones(tmp_path: Path):
    path = write(tmp_path, "x.csv", "Notes,Model,Ref,Seed,Notes\nhello,A,R, 7 ,again\n")
    result = load_bench(path)
    assert list(result.frame.columns) == list(C.CANONICAL_COLUMNS) + ["Notes", "Seed", "Notes.1"]
    assert result.frame.iloc[0][["Notes", "Seed", "Notes.1"]].tolist() == ["hello", "7", "again"]
    assert any("'Notes'" in note and "'Notes.1'" in note for note in result.notes)


# ----------------------------------------------------------------------------- value normalisation


def test_percent_metric_column_is_converted_with_a_note(published: Bench):
    accuracy = published.frame[C.ACCURACY]
    assert accuracy.tolist()[:3] == pytest.approx([0.955, 0.90, 0.88])
    assert accuracy.iloc[16] == pytest.approx(0.7225)
    assert published.frame[C.PRECISION].iloc[0] == 0.9  # fractions stay as they are
    percent_notes = [n for n in published.notes if "percentages" in n]
    assert len(percent_notes) == 1 and percent_notes[0].startswith("Accu:")


def test_percent_above_hundred_is_a_problem_and_percent_sign_is_read(tmp_path: Path):
    path = write(tmp_path, "p.csv", "model,accuracy,auc\nA,95,0.9\nB,120,85%\n")
    result = normalize(read_table(path), "p.csv", required=(C.MODEL,))
    assert result.problems == [Problem(3, "accuracy", "120", "a fraction in [0, 1] or a percentage in [0, 100]")]
    assert result.frame[C.ACCURACY].iloc[0] == pytest.approx(0.95)
    assert math.isnan(result.frame[C.ACCURACY].iloc[1])
    assert result.frame[C.AUC].tolist() == pytest.approx([0.9, 0.85])
    assert any(n.startswith("accuracy:") and "percentages" in n for n in result.notes)
    assert any(n.startswith("auc:") and "'%'" in n for n in result.notes)


def test_k_fold_yes_is_missing_no_is_zero(published: Bench):
    folds = published.frame[C.K_FOLD].tolist()
    assert folds[:4] == [5.0, 5.0, 5.0, 5.0]  # "5-fold" is 5
    assert folds[4:6] == [0.0, 0.0]  # No
    assert all(math.isnan(v) for v in folds[6:8])  # Yes, yes: used, count unknown
    assert folds[8:14] == [0.0] * 6
    assert all(math.isnan(v) for v in folds[14:17])  # not reported
    assert folds[17:] == [10.0] * 3
    assert any(n.startswith("K-fold: 2 record(s) say 'Yes'") for n in published.notes)
    assert any(n.startswith("K-fold: 2 record(s) say 'No'") for n in published.notes)


def test_augmentation_booleans(published: Bench):
    values = published.frame[C.AUGMENTATION].tolist()
    expected = [1, 0, 1, 0, 0, 1, None, 1, 0, 1, None, 1, 1, 0, None, None, None, 1, 0, 0]
    assert [None if math.isnan(v) else v for v in values] == expected


def test_numbers_written_as_text(published: Bench):
    frame = published.frame
    assert frame[C.N_SAMPLES].tolist()[:2] == [10000.0, 10000.0]  # "10,000", "1e4"
    assert frame[C.WIDTH].iloc[0] == 224.0  # " 224 "
    assert frame[C.WIDTH].iloc[11] == 1024.0 and frame[C.HEIGHT].iloc[11] == 1024.0  # "1,024"


def test_missing_tokens_are_missing_not_errors(published: Bench):
    frame = published.frame
    for column in (C.N_SAMPLES, C.N_TRAIN, C.N_TEST, C.N_VAL, C.WIDTH, C.HEIGHT):
        assert frame[column].iloc[14:17].isna().all(), column  # "  ", "", "?", "-", "n/a", "NA"
    assert frame[[C.PRECISION, C.RECALL, C.F1, C.AUC]].iloc[5].isna().all()  # n/a, -, ?, NA
    assert frame[C.N_VAL].iloc[4:8].isna().all()


def test_model_spellings_merge_into_the_most_frequent(published: Bench):
    models = published.frame[C.MODEL]
    assert models.value_counts().to_dict() == {
        "ResNet-50": 7, "VGG16": 5, "DenseNet121": 3, "EfficientNet-B0": 3, "ViT-B/16": 2,
    }
    note = next(n for n in published.notes if n.startswith("Model: merged"))
    assert "'resnet 50' -> 'ResNet-50'" in note and "'ResNet_50' -> 'ResNet-50'" in note
    assert "'vgg16' -> 'VGG16'" in note


def test_spelling_tie_goes_to_the_first_seen(tmp_path: Path):
    path = write(tmp_path, "t.csv", "Ref,Model\nR,vit-b 16\nR,ViT_B16\nR,ViT B 16\nR,CNN\n")
    models = load_bench(path).frame[C.MODEL].tolist()
    assert models == ["vit-b 16", "vit-b 16", "vit-b 16", "CNN"]


def test_categories_and_task_types(published: Bench):
    frame = published.frame
    assert frame[C.DOMAIN].iloc[:4].tolist() == ["Skin cancer"] * 4  # padded, double space, lower case
    assert frame[C.MODALITY].iloc[:4].tolist() == ["Dermatoscope"] * 4
    assert frame[C.TASK_TYPE].tolist() == (
        ["binary"] * 4 + ["multi-class"] * 4 + ["multi-label"] * 3 + ["ordinal"] * 3
        + ["binary"] * 3 + ["multi-class"] * 3
    )
    assert frame[C.REF].iloc[0] == "Smith2020"


def test_normalize_accepts_typed_frames():
    raw = pd.DataFrame({"Model": [" A ", None], "Accu": [95.0, 80.5], "augmentation": [True, False], "#Class": [2, 3]})
    result = normalize(raw, "memory", required=(C.MODEL,))
    assert result.problems == []
    assert result.frame[C.MODEL].tolist() == ["A", None]
    assert result.frame[C.ACCURACY].tolist() == pytest.approx([0.95, 0.805])
    assert result.frame[C.AUGMENTATION].tolist() == [1.0, 0.0]
    assert result.frame[C.N_CLASSES].tolist() == [2.0, 3.0]


# ----------------------------------------------------------------------------- validation


def test_all_value_problems_are_collected_with_spreadsheet_rows(tmp_path: Path):
    path = write(tmp_path, "bad.csv", BAD)
    result = normalize(read_table(path), str(path))
    assert isinstance(result, Normalized)
    assert result.problems == BAD_PROBLEMS
    assert result.bad_rows == {0, 1, 2, 3, 4, 5, 6}
    assert not result.truncated
    assert len(result.frame) == 8  # bad rows stay, with their bad values missing
    assert math.isnan(result.frame[C.N_SAMPLES].iloc[0])
    assert result.frame[C.TASK_TYPE].iloc[5] is None
    assert result.frame[C.N_SAMPLES].iloc[7] == 100.0


def test_load_bench_raises_with_every_problem(tmp_path: Path):
    path = write(tmp_path, "bad.csv", BAD)
    with pytest.raises(ValidationError) as caught:
        load_bench(path)
    assert caught.value.problems == BAD_PROBLEMS
    assert "row 2, column 'n_samples': got 'abc'" in str(caught.value)


def test_problems_are_capped_but_bad_rows_are_all_kept(tmp_path: Path):
    path = write(tmp_path, "bad.csv", BAD)
    result = normalize(read_table(path), "bad.csv", max_problems=3)
    assert result.problems == BAD_PROBLEMS[:3]
    assert result.truncated
    assert result.bad_rows == {0, 1, 2, 3, 4, 5, 6}
    with pytest.raises(ValidationError) as caught:
        load_bench(path, max_problems=3)
    assert caught.value.truncated and len(caught.value.problems) == 3


def test_capped_problems_are_the_first_by_row(tmp_path: Path):
    path = write(tmp_path, "w.csv", "Ref,Model,Width,Accu\nR,A,0,0.5\nR,B,abc,x\nR,C,xyz,-1\n")
    result = normalize(read_table(path), "w.csv", max_problems=2)
    assert result.problems == [
        Problem(2, "Width", "0", "a whole number >= 1"),
        Problem(3, "Width", "abc", "a whole number >= 1"),
    ]
    assert result.truncated and result.bad_rows == {0, 1, 2}
    with pytest.raises(ValidationError) as caught:
        load_bench(path, max_problems=0)
    assert caught.value.problems == [] and caught.value.truncated


def test_problem_column_is_the_header_as_written(tmp_path: Path):
    path = write(tmp_path, "p.csv", "Ref,Model,#Sample,#Train\nR,A,10,20\n")
    result = normalize(read_table(path), "p.csv")
    assert result.problems == [Problem(2, "#Train", "20", "at most #Sample (10)")]


def test_blank_lines_count_as_rows_and_trailing_ones_are_dropped(tmp_path: Path):
    path = write(tmp_path, "b.csv", "Ref,Model,#Sample\nR,A,10\n\nR,B,abc\n\n\n")
    raw = read_table(path)
    assert len(raw) == 3
    result = normalize(raw, "b.csv")
    assert result.problems == [Problem(4, "#Sample", "abc", "a whole number >= 1")]
    good = write(tmp_path, "g.csv", "Ref,Model,#Sample\nR,A,10\n,,\nR,B,20\n")
    bench = load_bench(good)
    assert bench.frame[C.MODEL].tolist() == ["A", "B"]
    assert "dropped 1 empty row(s)" in bench.notes


# ----------------------------------------------------------------------------- schema errors


def test_missing_required_column_names_it(tmp_path: Path):
    no_model = write(tmp_path, "m.csv", "Ref,Domain\nR,Skin\n")
    with pytest.raises(SchemaError) as caught:
        load_bench(no_model)
    assert caught.value.column == C.MODEL
    assert "'model'" in str(caught.value)
    assert normalize(read_table(no_model), "m.csv", required=(C.REF,)).frame[C.MODEL].isna().all()

    no_ref = write(tmp_path, "r.csv", "Model,#Class\nA,2\n")
    with pytest.raises(SchemaError) as caught:
        load_bench(no_ref)
    assert caught.value.column == C.REF
    assert load_bench(no_ref, required=(C.MODEL,)).frame[C.N_CLASSES].tolist() == [2.0]


def test_scoring_input_without_model_column(tmp_path: Path):
    path = write(tmp_path, "tasks.csv", "Domain,#Sample,Width,hight,#Class\nSkin cancer,1000,224,224,2\n")
    result = normalize(read_table(path), "tasks.csv", required=())
    assert result.problems == []
    assert result.frame[C.MODEL].tolist() == [None]
    assert result.frame[C.N_SAMPLES].tolist() == [1000.0]


def test_duplicate_columns_after_normalisation_are_named(tmp_path: Path):
    path = write(tmp_path, "d.csv", "Ref,Model,hight,Height\nR,A,28,28\n")
    with pytest.raises(SchemaError) as caught:
        load_bench(path)
    assert caught.value.column == C.HEIGHT
    assert "'hight'" in str(caught.value) and "'Height'" in str(caught.value)

    same = write(tmp_path, "s.csv", "Ref,Model,model\nR,A,B\n")
    with pytest.raises(SchemaError) as caught:
        load_bench(same)
    assert caught.value.column == C.MODEL


# ----------------------------------------------------------------------------- file errors


def test_missing_empty_and_unknown_files(tmp_path: Path):
    with pytest.raises(DataFileError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    with pytest.raises(DataFileError, match="empty file"):
        read_table(write(tmp_path, "empty.csv", b""))
    with pytest.raises(DataFileError, match="unknown file type"):
        read_table(write(tmp_path, "bench.json", "{}"))
    with pytest.raises(DataFileError, match="no header"):
        read_table(write(tmp_path, "blank.csv", "\n\n"))


def test_header_only_file_reads_but_does_not_load(tmp_path: Path):
    path = write(tmp_path, "h.csv", "Ref,Model,Accu\n")
    raw = read_table(path)
    assert list(raw.columns) == ["Ref", "Model", "Accu"] and len(raw) == 0
    result = normalize(raw, "h.csv")
    assert len(result.frame) == 0 and result.problems == []
    assert list(result.frame.columns) == list(C.CANONICAL_COLUMNS)
    with pytest.raises(DataFileError, match="no records"):
        load_bench(path)


def test_ragged_csv_is_a_file_error(tmp_path: Path):
    with pytest.raises(DataFileError, match="cannot parse"):
        read_table(write(tmp_path, "r.csv", "Ref,Model\nR,A\nR,B,extra\n"))


def test_corrupt_parquet_and_xlsx_are_file_errors(tmp_path: Path):
    with pytest.raises(DataFileError, match="Parquet"):
        read_table(write(tmp_path, "x.parquet", b"this is not parquet"))
    with pytest.raises(DataFileError, match="xlsx"):
        read_table(write(tmp_path, "x.xlsx", b"this is not a workbook"))


def test_utf8_bom_is_transparent(tmp_path: Path):
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbfRef,Model\nR,Caf\xc3\xa9Net\n")
    bench = load_bench(path)
    assert bench.frame[C.REF].tolist() == ["R"]
    assert bench.frame[C.MODEL].tolist() == ["Caf\u00e9Net"]
    assert bench.notes == []


def test_non_utf8_falls_back_to_cp1252_with_a_note(tmp_path: Path):
    text = "Ref,Model,Domain\nM\u00fcller2020 \u2013 Derm,ResNet-50,Haut\n"
    path = write(tmp_path, "cp.csv", text.encode("cp1252"))
    bench = load_bench(path)
    assert bench.frame[C.REF].tolist() == ["M\u00fcller2020 \u2013 Derm"]
    assert len(bench.notes) == 1
    assert "not valid UTF-8" in bench.notes[0] and "cp1252" in bench.notes[0]


def test_semicolon_csv_and_tsv(tmp_path: Path):
    semi = load_bench(write(tmp_path, "s.csv", "Ref;Model;Accu\nR;A;0,95\nR;B;0,9\n"))
    assert semi.frame[C.ACCURACY].tolist() == pytest.approx([0.95, 0.9])
    assert "columns are separated by semicolons" in semi.notes
    tsv = load_bench(write(tmp_path, "t.tsv", "Ref\tModel\t#Sample\nR\tA\t1,000\n"))
    assert tsv.frame[C.N_SAMPLES].tolist() == [1000.0]


# ----------------------------------------------------------------------------- formats and chunks


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_round_trip_through_every_format(tmp_path: Path, published: Bench, suffix: str):
    path = tmp_path / f"bench{suffix}"
    frame = published.frame
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_excel(path, index=False)
    again = load_bench(path)
    pd.testing.assert_frame_equal(again.frame, frame)
    assert again.notes == []


def test_raw_values_are_strings_or_none_in_every_format(tmp_path: Path, published: Bench):
    published.frame.to_parquet(tmp_path / "b.parquet", index=False)
    published.frame.to_excel(tmp_path / "b.xlsx", index=False)
    for path in (tmp_path / "b.parquet", tmp_path / "b.xlsx", write(tmp_path, "b.csv", PUBLISHED)):
        raw = read_table(path)
        assert len(raw) == 20
        assert all(v is None or isinstance(v, str) for v in raw.to_numpy().ravel()), path.suffix


def test_xlsx_with_published_headers_and_two_sheets(tmp_path: Path):
    raw = read_table(write(tmp_path, "p.csv", PUBLISHED))
    path = tmp_path / "p.xlsx"
    with pd.ExcelWriter(path) as writer:
        raw.to_excel(writer, sheet_name="bench", index=False)
        pd.DataFrame({"about": ["notes"]}).to_excel(writer, sheet_name="readme", index=False)
    bench = load_bench(path)
    expected = load_bench(tmp_path / "p.csv")
    pd.testing.assert_frame_equal(bench.frame, expected.frame)
    assert "read the first sheet 'bench' of 2" in bench.notes


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_chunked_reading_reports_file_row_numbers(tmp_path: Path, suffix: str):
    csv = write(tmp_path, "bad.csv", BAD)
    path = csv
    if suffix != ".csv":
        path = tmp_path / f"bad{suffix}"
        raw = read_table(csv)
        raw.to_parquet(path, index=False) if suffix == ".parquet" else raw.to_excel(path, index=False)
    problems: list[Problem] = []
    bad_rows: set[int] = set()
    seen = 0
    for chunk in read_table(path, chunksize=3):
        assert 1 <= len(chunk) <= 3
        assert chunk.index[0] == seen
        result = normalize(chunk, str(path), row_offset=int(chunk.index[0]))
        problems += result.problems
        bad_rows |= {int(chunk.index[0]) + p for p in result.bad_rows}
        seen += len(chunk)
    assert seen == 8
    assert problems == BAD_PROBLEMS
    assert bad_rows == {0, 1, 2, 3, 4, 5, 6}


def test_chunked_header_only_gives_one_empty_chunk(tmp_path: Path):
    chunks = list(read_table(write(tmp_path, "h.csv", "Ref,Model\n"), chunksize=2))
    assert len(chunks) == 1 and len(chunks[0]) == 0 and list(chunks[0].columns) == ["Ref", "Model"]


# ----------------------------------------------------------------------------- the real bench


def test_shipped_public_corpus_loads_cleanly_and_describes_exactly():
    path = shipped_data_path(PUBLIC)
    bench = load_bench(path)
    frame = bench.frame
    assert len(frame) == 4393
    assert bench.notes == []
    assert assign_task_ids(frame).nunique() == 295
    assert frame[C.MODEL].nunique() == 383
    assert frame[C.DATASET].nunique() == 98 and frame[C.DATASET].notna().all()
    assert frame[C.ORIGIN].notna().all()  # provenance travels with every record
    assert normalize(read_table(path), str(path)).problems == []

    plain = pd.read_csv(path)
    d = describe(bench)
    assert (d["records"], d["tasks"], d["models"], d["refs"], d["datasets"]) == (4393, 295, 383, 28, 98)
    mode_i = ["domain", "n_samples", "width", "height", "n_classes"]
    mode_iii = mode_i + ["n_train", "n_test", "n_val", "channels", "modality", "task_type"]
    any_i_missing = plain[mode_i].isna().any(axis=1).mean()
    assert 1 - d["modes"]["I"]["complete"] == pytest.approx(any_i_missing)
    assert d["modes"]["I"]["mean_missing"] == pytest.approx(plain[mode_i].isna().mean(axis=1).mean())
    assert d["modes"]["III"]["complete"] == pytest.approx(plain[mode_iii].notna().all(axis=1).mean())
    assert d["modes"]["IV"]["complete"] == 0.0  # augmentation is never reported
    assert d["missingness"]["auc"] == pytest.approx(plain["auc"].isna().mean())
    # Hand-checked values: 2965 of 4393 records lack a mode-I feature (slide tasks, PathBench sizes).
    assert round(any_i_missing * 4393) == 2965


@pytest.mark.skipif(not REAL_BENCH.exists(), reason="shared/data/medicalrec_public_bench.csv is not beside the repository")
def test_shipped_corpus_is_the_shared_file():
    """The package ships a gzip of shared/data's corpus: byte for byte the same file, so they cannot
    drift (refresh it with: gzip -n -9 -c ../shared/data/medicalrec_public_bench.csv >
    medicalrec/bench/data/medicalrec_public_bench.csv.gz)."""
    import gzip

    with gzip.open(shipped_data_path(PUBLIC), "rb") as handle:
        assert handle.read() == REAL_BENCH.read_bytes()
    shipped, shared = load_bench(shipped_data_path(PUBLIC)).frame, load_bench(REAL_BENCH).frame
    pd.testing.assert_frame_equal(shipped, shared)


def test_gzip_csv_reads_like_the_plain_file(tmp_path: Path):
    import gzip

    text = "Ref,Model,Accu,Dataset\nA,ResNet,95%,ISIC 2019\nB,ViT,0.9,\n"
    plain = write(tmp_path, "plain.csv", text)
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert file_format(packed) == "csv" and file_format(tmp_path / "x.parquet.gz") is None
    a, b = load_bench(plain), load_bench(packed)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.notes == b.notes
    assert b.frame[C.DATASET].tolist() == ["ISIC 2019", None]


def test_a_huge_bad_cell_is_cut_in_the_error_not_echoed(tmp_path: Path):
    """A 1 MB value in a count column: the message names row, column and the value's start and
    length, in a few hundred characters; the Problem keeps the whole value."""
    huge = "9" * 500_000 + "x" * 500_000
    path = write(tmp_path, "huge.csv", f"Ref,Model,#Sample\nA,ResNet,{huge}\n")
    with pytest.raises(ValidationError) as caught:
        load_bench(path)
    message = str(caught.value)
    assert len(message) < 400
    assert "row 2, column '#Sample'" in message and "(1,000,002 characters)" in message
    assert caught.value.problems[0].value == huge


@pytest.mark.parametrize("header, column", [("domian", C.DOMAIN), ("n_clases", C.N_CLASSES), ("Modalty", C.MODALITY),
                                            ("n class", C.N_CLASSES), ("widht", C.WIDTH), ("Datset", C.DATASET)])
def test_a_misspelled_bench_column_is_refused_not_ignored(header, column):
    """Kept as an extra column it would leave the feature unknown on every row without a word."""
    raw = pd.DataFrame({"task_id": ["t1"], header: ["x"], "n_samples": ["280"]}, dtype=object)
    with pytest.raises(SchemaError, match=f"column '{header}' is not a bench column but reads like '{column}', "
                                          f"which the file lacks: rename it to '{column}'") as caught:
        normalize(raw, "tasks.csv", required=())
    assert caught.value.column == header


def test_extra_columns_unlike_a_missing_bench_column_are_kept():
    """A look-alike of a column the file has, of a result column (model, metrics: not a feature), of a
    short name, or one with another first letter stays an extra column."""
    names = ["domains", "notes", "origin", "fold", "rank", "pred", "models", "acuracy", "right", "nest"]
    raw = pd.DataFrame({"task_id": ["t1"], "domain": ["Skin"], **{name: ["x"] for name in names}}, dtype=object)
    result = normalize(raw, "tasks.csv", required=())
    assert list(result.frame.columns[-len(names) - 1:]) == ["task_id"] + names


def test_a_problem_shows_a_missing_value_as_an_empty_cell():
    assert str(Problem(3, "task_id", None, "a task id")) == "row 3, column 'task_id': got an empty cell, expected a task id"
    assert str(Problem(4, "n_samples", "many", "a whole number")) == \
        "row 4, column 'n_samples': got 'many', expected a whole number"
