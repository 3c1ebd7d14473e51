from devias_tk.data.windows import ClipGrid, nearest_window, window_indices, window_starts


def test_window_grid():
    spec = ClipGrid(window=16, stride=4, hop=4)
    starts, padded = window_starts(100, spec)  # last start that fits: 100 - 61 = 39
    assert starts == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36] and not padded
    assert window_starts(61, spec) == ([0], False)
    assert window_starts(40, spec) == ([0], True)
    idx = window_indices(40, [0], spec)
    assert idx.tolist() == [[0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 39, 39, 39, 39, 39, 39]]  # last frame repeated



def test_nearest_window():
    assert nearest_window(5, [0, 4, 8]) == 1 and nearest_window(6, [0, 4, 8]) == 1 and nearest_window(99, [0, 4]) == 1
